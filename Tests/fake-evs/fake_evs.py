#!/usr/bin/env python3
"""A fake Huawei Cloud EVS + ECS + IAM service for tests of the driver's `--backend evs`.

It follows the published API reference (huaweicloudDocs/evs and huaweicloudDocs/ecs, "API参考"; docs/evs.md cites
the pages): paths, request and answer bodies, status codes, error bodies and job objects. Each service has its own
endpoint (port) and EVS and ECS each their own job table, as on the real cloud (evs.<region>…, ecs.<region>…,
iam.<region>…). Where the reference does not say what the service does, the fake decides, and says so in a comment
starting with "FAKE'S CHOICE".

  IAM  POST /v3/auth/tokens                                  password auth, project scope; 201 + X-Subject-Token
  EVS  POST   /v2.1/{project_id}/cloudvolumes                {"volume": {...}} -> 202 {"job_id", "volume_ids"}
                                                             (with "count": a batchCreateVolume job, its disks in
                                                             entities.sub_jobs[]; restore metadata refused EVS.1043;
                                                             quota EVS.1034 / EVS.1042)
       GET    /v2/{project_id}/cloudvolumes/{volume_id}      -> {"volume": {...}}  (malformed id: 400 EVS.1002)
       GET    /v2/{project_id}/cloudvolumes/detail           ?name&id&status&limit&offset (offset > 0) -> {"volumes", "count"}
       DELETE /v2/{project_id}/cloudvolumes/{volume_id}      -> 200 {"job_id"} (status per EVS.1046)
       POST   /v2.1/{project_id}/cloudvolumes/{id}/action    {"os-extend": {"new_size"}} -> 202 {"job_id"}
       PUT    /v5/{project_id}/cloudvolumes/{id}/qos         {"qos_modify": {"iops", "throughput"}} -> 202 {"job_id"}
                                                             (ModifyVolumeQoS; GPSSD2 only, available or in-use)
       POST   /v2/{project_id}/cloudsnapshots                {"snapshot": {volume_id, force, name, metadata}} -> 202 {"snapshot"}
       GET    /v2/{project_id}/cloudsnapshots/detail         ?id&name&volume_id&status&limit&offset -> {"snapshots", "count"}
       DELETE /v2/{project_id}/cloudsnapshots/{snapshot_id}  -> 202
       GET    /v2/{project_id}/os-quota-sets/{project_id}?usage=True
       POST   /v2/{project_id}/volumes/{volume_id}/metadata        {"metadata": {k: v}} -> {"metadata": all} (add/update)
       GET    /v2/{project_id}/volumes/{volume_id}/metadata/{key}  -> {"meta": {key: value}}
       DELETE /v2/{project_id}/volumes/{volume_id}/metadata/{key}  -> 200, no body
       GET    /v1/{project_id}/jobs/{job_id}                 EVS jobs {"status": SUCCESS|RUNNING|INIT|FAIL, "entities", ...}
  ECS  POST   /v1/{project_id}/cloudservers/{server_id}/attachvolume          {"volumeAttachment": {"volumeId"}}
                                                             (disk missing or not attachable: 400 Ecs.0103)
       DELETE /v1/{project_id}/cloudservers/{server_id}/detachvolume/{volume_id}   (not attached: 400 Ecs.0111)
       GET    /v1/{project_id}/jobs/{job_id}                 ECS jobs (not EVS's)
       (unknown server: 404 Ecs.0114)

Errors: EVS/ECS {"error": {"message", "code": "EVS.5404"}}; the pages of the Cinder-style v2 APIs (disk details and
lists, snapshots, metadata, quota) show the error wrapped by its kind instead: {"badRequest": {...}} (400),
{"itemNotFound": {...}} (404), as the fake answers there. The API gateway {"error_msg", "error_code": "APIGW.0308",
"request_id"} (429, 401), Keystone {"error": {"code": 401, "message", "title"}} for IAM.

Authentication: X-Auth-Token from /v3/auth/tokens (tokens expire after --token-ttl seconds) or AK/SK signing
(SDK-HMAC-SHA256, verified here with an independent implementation of the signing guide's algorithm).

Faults (per test): POST /_fake/faults with {"faults": [{"method": "POST", "path": REGEX, "action": A, "count": N,
"seconds": S, "every": K, "retry_after": R}]} (count -1: no limit; every K: only each K-th match; retry_after: a 429
sends Retry-After only when the fault names it); actions: "429" (gateway throttling, nothing done), "500" (EVS.2002, nothing done),
"500-after" (the request is carried out, then 500 is answered), "fail-job" (the job fails; a created disk is left in
`error`, a snapshot goes to `error`), "slow-job" (the job takes S seconds; S < 0: until POST /_fake/release),
"detached" (on a detach: the disk was detached by someone else just before, so ECS answers Ecs.0111). Setting
"snapshot_seconds" to a negative number holds every new snapshot in `creating` until POST /_fake/release, which ends
every held job and snapshot at once (a test decides by state, not by a race between its deadline and the fake's
clock). POST /_fake/snapshot-source {"id", "metadata"} changes what a restore from that snapshot inherits. POST
/_fake/expire-tokens revokes every token issued so far. POST /_fake/volume-status {"id", "status"} puts a disk in any
status of the reference's status table (rollbacking, error_rollbacking, error_extending, awaiting-transfer, ...): the
fake never reaches those by itself except error_extending (a failed extend job). POST /_fake/faults also takes
"quota_volumes" and "quota_gib" (-1: unlimited). GET /_fake/state returns volumes, snapshots, jobs and request counts;
GET /_fake/log every API
request (time, method, path, status, code, fault fired, auth kind); POST /_fake/reset clears.

It listens on 127.0.0.1 (three ports: EVS, ECS, IAM; the /_fake/ control endpoints answer on each) with a CA and
server certificate made by openssl, and prints ONE JSON line on stdout:
  {"url" (EVS), "ecs_url", "iam_url", "ca", "dir", "project_id", "region", "zones", "servers", "access_key", "secret_key", "username",
   "password", "domain", "credentials_aksk", "credentials_password"}
It exits when its parent process goes away.
"""

import argparse
import datetime
import hashlib
import hmac
import json
import os
import re
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, urlsplit, unquote

PROJECT = "0605767a1e80d5762fb9c0156eb2e8ad"
REGION = "cn-north-4"
ZONES = ["cn-north-4a", "cn-north-4b"]
SERVERS = ["a1b2c3d4-0000-4000-8000-000000000001", "a1b2c3d4-0000-4000-8000-000000000002"]
AK, SK = "QTWAOYTTINDUT2QVKYUC", "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc"
USER, PASSWORD, DOMAIN = "evssnap-csi", "Fake-Passw0rd!", "evssnap-domain"
VOLUME_TYPES = {"SAS", "SSD", "GPSSD", "ESSD", "GPSSD2", "SATA"}
# The disk status table of the API reference ("云硬盘状态").
VOLUME_STATUSES = {"creating", "available", "in-use", "error", "attaching", "detaching", "restoring-backup",
                   "backing-up", "error_restoring", "uploading", "downloading", "extending", "error_extending",
                   "deleting", "error_deleting", "rollbacking", "error_rollbacking", "awaiting-transfer"}
# Error table, EVS.1046: "volume status must be available, error, error_extending, error_restoring,
# error_rollbacking when delete volume!"
DELETABLE = {"available", "error", "error_extending", "error_restoring", "error_rollbacking"}


def iso(t=None):
    t = time.time() if t is None else t
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")


def iso_z(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Fail(Exception):
    def __init__(self, status, code, message, shape="evs"):
        super().__init__(message)
        self.status, self.code, self.message, self.shape = status, code, message, shape

    def body(self, wrapped=False):
        if self.shape == "apigw":
            return {"error_msg": self.message, "error_code": self.code, "request_id": uuid.uuid4().hex}
        if self.shape == "keystone":
            return {"error": {"code": self.status, "message": self.message, "title": "Unauthorized"}}
        if wrapped and self.status in (400, 404):
            # The Cinder-style pages: "error is generic: badRequest, itemNotFound, ..." (FAKE'S CHOICE: only these
            # two kinds, by status; the pages name no others).
            return {"badRequest" if self.status == 400 else "itemNotFound": {"message": self.message, "code": self.code}}
        return {"error": {"message": self.message, "code": self.code}}


# Paths whose reference pages show the wrapped error bodies (badRequest / itemNotFound): disk details and lists,
# snapshots, the Cinder metadata endpoints and the quota. The v2.1 create/extend, the v2 delete and the jobs pages
# show {"error": {...}}.
WRAPPED = re.compile(r"^/v2/[^/]+/(cloudvolumes/(?!detail$)[^/]+$|cloudvolumes/detail$|cloudsnapshots|volumes/|os-quota-sets/)")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class State:
    def __init__(self, args):
        self.lock = threading.RLock()
        self.args = args
        self.reset()

    def reset(self):
        with self.lock:
            self.volumes = {}
            self.snapshots = {}
            self.jobs = {"evs": {}, "ecs": {}}  # each service answers only its own jobs
            self.quota_volumes = self.args.quota_volumes
            self.quota_gib = self.args.quota_gib
            self.tokens = {}
            self.faults = []
            self.requests = {}
            self.log = []  # one entry per API request (GET /_fake/log), for diagnosing fault runs
            self.tokens_issued = 0
            self.job_seconds = self.args.job_seconds
            self.snapshot_seconds = self.args.snapshot_seconds
            self.token_ttl = self.args.token_ttl

    # --- jobs: each finishes at its `due` time; its effect runs when it is first looked at after that ---------

    def new_job(self, job_type, entities, on_success, on_fail=None, seconds=None, fail=False, fail_code="EVS.2001",
                fail_reason="submit job failed!", service="evs"):
        job_id = uuid.uuid4().hex
        now = time.time()
        self.jobs[service][job_id] = {
            "job_id": job_id, "job_type": job_type, "entities": entities, "begin": now,
            "due": now + (self.job_seconds if seconds is None else seconds if seconds >= 0 else float("inf")),
            "fail": fail,
            "fail_code": fail_code, "fail_reason": fail_reason, "done": None,
            "on_success": on_success, "on_fail": on_fail,
        }
        return job_id

    def settle(self):
        now = time.time()
        for job in [j for table in self.jobs.values() for j in table.values()]:
            if job["done"] is None and now >= job["due"]:
                job["done"] = "FAIL" if job["fail"] else "SUCCESS"
                job["end"] = now
                action = job["on_fail"] if job["fail"] else job["on_success"]
                if action:
                    action()
        for snap in self.snapshots.values():
            if snap["status"] == "creating" and now >= snap["_due"]:
                snap["status"] = "error" if snap.get("_fail") else "available"
                snap["updated_at"] = iso(now)

    def job_view(self, job):
        status = job["done"] or ("RUNNING" if time.time() > job["begin"] + 0.05 else "INIT")
        entities = job["entities"]
        if "sub_jobs" in entities:  # a batch job: each disk's own job, with its status
            entities = dict(entities, sub_jobs=[dict(sub, status=status) for sub in entities["sub_jobs"]])
        return {
            "status": status, "entities": entities, "job_id": job["job_id"], "job_type": job["job_type"],
            "begin_time": iso_z(job["begin"]), "end_time": iso_z(job["end"]) if job["done"] else "",
            "error_code": job["fail_code"] if job["done"] == "FAIL" else None,
            "fail_reason": job["fail_reason"] if job["done"] == "FAIL" else None,
        }

    def volume_view(self, v):
        return {k: val for k, val in v.items() if not k.startswith("_")}

    def snapshot_view(self, s):
        return {k: val for k, val in s.items() if not k.startswith("_")}

    def count(self, key):
        self.requests[key] = self.requests.get(key, 0) + 1

    def take_fault(self, method, path, actions):
        for f in self.faults:
            if f["count"] == 0 or f["action"] not in actions:
                continue
            if f.get("method") and f["method"] != method:
                continue
            if f.get("path") and not re.search(f["path"], path):
                continue
            if f.get("every"):  # fire on every N-th matching request only
                f["seen"] = f.get("seen", 0) + 1
                if f["seen"] % f["every"] != 0:
                    continue
            if f["count"] > 0:
                f["count"] -= 1
            f["fired"] = f.get("fired", 0) + 1
            return f
        return None


def sign_check(state, method, raw_path, query, headers, body):
    """Verifies an SDK-HMAC-SHA256 Authorization header (API signing guide)."""
    auth = headers.get("authorization", "")
    m = re.match(r"SDK-HMAC-SHA256\s+Access=([^,]+),\s*SignedHeaders=([^,]+),\s*Signature=([0-9a-f]+)$", auth)
    if not m:
        raise Fail(401, "APIGW.0301", "Incorrect IAM authentication information: unsupported authorization", "apigw")
    access, signed_headers, signature = m.groups()
    if access != AK:
        raise Fail(401, "APIGW.0301", "Incorrect IAM authentication information: unknown access key", "apigw")
    date = headers.get("x-sdk-date", "")
    try:
        t = datetime.datetime.strptime(date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()
    except ValueError:
        raise Fail(401, "APIGW.0301", "Incorrect IAM authentication information: bad X-Sdk-Date", "apigw")
    if abs(time.time() - t) > 900:
        raise Fail(401, "APIGW.0303", "Incorrect app authentication information: request expired", "apigw")
    uri = "/".join(quote(unquote(seg), safe="-_.~") for seg in raw_path.split("/"))
    if not uri.endswith("/"):
        uri += "/"
    pairs = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in query)
    canonical_query = "&".join(f"{k}={v}" for k, v in pairs)
    names = signed_headers.split(";")
    canonical_headers = "".join(f"{n}:{headers.get(n, '').strip()}\n" for n in names)
    canonical = "\n".join([method, uri, canonical_query, canonical_headers, signed_headers,
                           hashlib.sha256(body).hexdigest()])
    to_sign = "SDK-HMAC-SHA256\n%s\n%s" % (date, hashlib.sha256(canonical.encode()).hexdigest())
    expected = hmac.new(SK.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise Fail(401, "APIGW.0301", "Incorrect IAM authentication information: verify aksk signature fail", "apigw")
    # The gateway does not require `host` among the signed headers (the SDK's own test vector signs only
    # x-sdk-date). FAKE'S CHOICE: x-sdk-date must be signed (the signing time is checked above).
    if "x-sdk-date" not in names:
        raise Fail(401, "APIGW.0301", "Incorrect IAM authentication information: x-sdk-date must be signed", "apigw")


def make_handler(state, service):
    """The handler of one service's endpoint: "evs", "ecs" or "iam"."""
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def send_json(self, status, obj, headers=()):
            data = b"" if obj is None else json.dumps(obj).encode()
            self.send_response(status)
            if obj is not None:
                self.send_header("Content-Type", "application/json;charset=UTF-8")
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self.handle_any("GET")

        def do_POST(self):
            self.handle_any("POST")

        def do_DELETE(self):
            self.handle_any("DELETE")

        def do_PUT(self):
            self.handle_any("PUT")

        def handle_any(self, method):
            split = urlsplit(self.path)
            path, query = split.path, parse_qsl(split.query, keep_blank_values=True)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            self.fault_fired = None
            started = time.time()
            try:
                status, obj, extra = self.route(method, path, query, headers, body)
                self.send_json(status, obj, extra)
                code = (obj or {}).get("error_code") if isinstance(obj, dict) else None
            except Fail as f:
                status, code = f.status, f.code
                self.send_json(f.status, f.body(wrapped=service == "evs" and bool(WRAPPED.match(path))))
            except Exception as e:  # a bug in the fake: say so loudly
                status, code = 500, "fake-bug"
                self.send_json(500, {"error": {"message": f"fake bug: {e!r}", "code": "EVS.2002"}})
            if not path.startswith("/_fake/"):
                with state.lock:
                    if len(state.log) < 50000:
                        state.log.append({"t": round(started, 3), "ms": round((time.time() - started) * 1000, 1),
                                          "service": service, "method": method, "path": self.path, "status": status, "code": code,
                                          "fault": self.fault_fired,
                                          "auth": "token" if "x-auth-token" in headers else
                                                  "aksk" if "authorization" in headers else "none"})

        def route(self, method, path, query, headers, body):
            if path.startswith("/_fake/"):
                return self.control(method, path, body)
            with state.lock:
                state.settle()
                template = re.sub(r"/[0-9a-f]{32}|/[0-9a-f-]{36}", "/{id}", path)
                state.count(f"{method} {template}")
                if service == "ecs" and template == "/v1/{id}/jobs/{id}":
                    state.count("GET ecs /v1/{id}/jobs/{id}")
                # Gateway throttling and server errors that happen before anything is done.
                fault = state.take_fault(method, path, {"429", "500"})
                self.fault_fired = fault and fault["action"]
                if fault and fault["action"] == "429":
                    # FAKE'S CHOICE: Retry-After only when the fault names it (the gateway's error page does not
                    # promise the header), so a client must back off without it too.
                    extra = [("Retry-After", str(fault["retry_after"]))] if "retry_after" in fault else []
                    return 429, {"error_msg": "The throttling threshold has been reached: policy user over ratelimit,limit:10,time:1 minute",
                                 "error_code": "APIGW.0308", "request_id": uuid.uuid4().hex}, extra
                if fault and fault["action"] == "500":
                    raise Fail(500, "EVS.2002", "internal error!")
                if service == "iam":
                    if path == "/v3/auth/tokens" and method == "POST":
                        return self.iam_token(body)
                    raise Fail(404, "404", "The resource could not be found.", "keystone")
                self.authenticate(method, path, query, headers, body)
                after = state.take_fault(method, path, {"500-after"})
                self.fault_fired = after and after["action"]
                result = self.api(method, path, query, body)
                if after:
                    raise Fail(500, "EVS.2002", "internal error!")
                return result

        # --- IAM -------------------------------------------------------------------------------------------------

        def iam_token(self, body):
            try:
                auth = json.loads(body)["auth"]
                user = auth["identity"]["password"]["user"]
                ok = (auth["identity"]["methods"] == ["password"] and user["name"] == USER
                      and user["password"] == PASSWORD and user["domain"]["name"] == DOMAIN)
                project = auth["scope"]["project"]["id"]
            except (KeyError, TypeError, ValueError):
                raise Fail(400, "400", "The request body is malformed.", "keystone")
            if not ok:
                raise Fail(401, "401", "The username or password is wrong.", "keystone")
            if project != PROJECT:
                raise Fail(401, "401", "The project is not found or not yours.", "keystone")
            token = "MIIFake" + uuid.uuid4().hex + uuid.uuid4().hex
            now = time.time()
            state.tokens[token] = now + state.token_ttl
            state.tokens_issued += 1
            return 201, {"token": {
                "expires_at": iso_z(now + state.token_ttl), "issued_at": iso_z(now), "methods": ["password"],
                "project": {"id": PROJECT, "name": REGION, "domain": {"id": "d" * 32, "name": DOMAIN}},
                "user": {"id": "u" * 32, "name": USER, "domain": {"id": "d" * 32, "name": DOMAIN}},
                "roles": [{"id": "r" * 32, "name": "evs_adm"}, {"id": "s" * 32, "name": "ecs_adm"}],
                "catalog": [],
            }}, [("X-Subject-Token", token)]

        def authenticate(self, method, path, query, headers, body):
            token = headers.get("x-auth-token")
            if token:
                expires = state.tokens.get(token)
                if expires is None or expires < time.time():
                    raise Fail(401, "APIGW.0301", "Incorrect IAM authentication information: token expired", "apigw")
                return
            if headers.get("authorization"):
                sign_check(state, method, path, query, headers, body)
                # FAKE'S CHOICE: the X-Project-Id an AK/SK request carries must name the project of its URL; a
                # project id that is not the account's is then EVS's 400 EVS.0001 "invalid tenant id!" (error table).
                url_project = path.split("/")[2] if path.count("/") >= 2 else ""
                if headers.get("x-project-id", url_project) != url_project:
                    raise Fail(401, "APIGW.0301", "Incorrect IAM authentication information: project mismatch", "apigw")
                return
            raise Fail(401, "APIGW.0301", "Incorrect IAM authentication information: no token and no signature", "apigw")

        # --- EVS and ECS ---------------------------------------------------------------------------------------

        def api(self, method, path, query, body):
            p = PROJECT
            q = dict(query)
            m = lambda pattern: re.fullmatch(pattern.replace("{p}", p), path)
            if re.match(r"/v[0-9.]+/([^/]+)/", path) and path.split("/")[2] != p:
                # Error table: 400 EVS.0001 "invalid tenant id!" (the project id in the URI is not valid).
                # FAKE'S CHOICE: ECS answers a foreign project with the same code (its table names none).
                raise Fail(400, "EVS.0001" if service == "evs" else "Ecs.0005", "invalid tenant id!")
            if (r := m(r"/v1/{p}/jobs/([^/]+)")) and method == "GET":
                job = state.jobs[service].get(r.group(1))
                if not job:
                    # FAKE'S CHOICE: the job pages name no code for an unknown job; 404 with the service's
                    # not-found code (a job id is only ever asked of the service that gave it).
                    raise Fail(404, "EVS.5404" if service == "evs" else "Ecs.0114", f"job {r.group(1)} not found")
                return 200, state.job_view(job), []
            if service == "ecs":
                if (r := m(r"/v1/{p}/cloudservers/([^/]+)/attachvolume")) and method == "POST":
                    return self.attach(r.group(1), json_body(body))
                if (r := m(r"/v1/{p}/cloudservers/([^/]+)/detachvolume/([^/]+)")) and method == "DELETE":
                    return self.detach(r.group(1), r.group(2))
                raise Fail(404, "APIGW.0101", "The API does not exist or has not been published in the environment", "apigw")
            if method == "POST" and m(r"/v2\.1/{p}/cloudvolumes"):
                return self.create_volume(json_body(body))
            if method == "GET" and m(r"/v2/{p}/cloudvolumes/detail"):
                return self.list_volumes(q)
            if (r := m(r"/v2/{p}/cloudvolumes/([^/]+)")) and method == "GET":
                return 200, {"volume": state.volume_view(self.volume(r.group(1)))}, []
            if (r := m(r"/v2/{p}/cloudvolumes/([^/]+)")) and method == "DELETE":
                return self.delete_volume(r.group(1))
            if (r := m(r"/v2\.1/{p}/cloudvolumes/([^/]+)/action")) and method == "POST":
                return self.extend(r.group(1), json_body(body))
            if (r := m(r"/v5/{p}/cloudvolumes/([^/]+)/qos")) and method == "PUT":
                return self.modify_qos(r.group(1), json_body(body))
            if method == "POST" and m(r"/v2/{p}/cloudsnapshots"):
                return self.create_snapshot(json_body(body))
            if method == "GET" and m(r"/v2/{p}/cloudsnapshots/detail"):
                return self.list_snapshots(q)
            if (r := m(r"/v2/{p}/cloudsnapshots/([^/]+)")) and method == "DELETE":
                return self.delete_snapshot(r.group(1))
            if method == "GET" and m(r"/v2/{p}/os-quota-sets/{p}"):
                used = sum(v["size"] for v in state.volumes.values())
                return 200, {"quota_set": {"id": p, "gigabytes": {"in_use": used, "limit": state.quota_gib, "reserved": 0},
                                           "volumes": {"in_use": len(state.volumes), "limit": state.quota_volumes, "reserved": 0},
                                           "snapshots": {"in_use": len(state.snapshots), "limit": -1, "reserved": 0}}}, []
            if (r := m(r"/v2/{p}/volumes/([^/]+)/metadata")) and method == "POST":
                return self.add_metadata(r.group(1), json_body(body))
            if (r := m(r"/v2/{p}/volumes/([^/]+)/metadata/([^/]+)")) and method in ("GET", "DELETE"):
                return self.one_metadata(method, r.group(1), unquote(r.group(2)))
            raise Fail(404, "APIGW.0101", "The API does not exist or has not been published in the environment", "apigw")

        def volume(self, vid):
            if not UUID.match(vid):
                # Error table: 400 EVS.1002 "invalid volume id!". FAKE'S CHOICE: "invalid" = not a lower-case UUID.
                raise Fail(400, "EVS.1002", "invalid volume id!")
            v = state.volumes.get(vid)
            if not v:
                raise Fail(404, "EVS.5404", f"volume {vid} could not be found")
            return v

        def create_volume(self, req):
            vol = req.get("volume")
            if not isinstance(vol, dict):
                raise Fail(400, "EVS.1008", "null createVolumeReq!")
            az = vol.get("availability_zone")
            if az not in ZONES:
                raise Fail(400, "EVS.5400", f"Invalid input received: Availability zone '{az}' is invalid")
            vtype = vol.get("volume_type")
            if vtype not in VOLUME_TYPES:
                raise Fail(400, "EVS.5400", f"Invalid input received: volume type {vtype} not found")
            if vtype == "GPSSD2" and not (vol.get("iops") and vol.get("throughput")):
                raise Fail(400, "EVS.5400", "Invalid input received: GPSSD2 needs iops and throughput")
            size = vol.get("size")
            snap_id = vol.get("snapshot_id")
            metadata = dict(vol.get("metadata") or {})
            if not isinstance(metadata, dict) or any(not isinstance(v, str) for v in metadata.values()):
                raise Fail(400, "EVS.5400", "Invalid input received: metadata values must be strings")
            # The create page lists the metadata keys a create takes (__system__cmkid, __system__encrypted,
            # full_clone, hw:passthrough) and says only those are supported. FAKE'S CHOICE: other keys are kept as
            # they are (Huawei's CSI driver sends its own keys on create, pkg/evs/controllerserver.go parseMetadata).
            if metadata.get("hw:passthrough", "false") not in ("true", "false"):
                raise Fail(400, "EVS.1057", "invalid hw:passthrough in metadata!")
            if metadata.get("__system__encrypted") == "1" and not metadata.get("__system__cmkid"):
                raise Fail(400, "EVS.5400", "Invalid input received: __system__cmkid is required with __system__encrypted")
            count = vol.get("count")
            if count is not None and (not isinstance(count, int) or not 1 <= count <= 100):
                raise Fail(400, "EVS.5400", "Invalid input received: count must be 1 to 100")
            src = None
            if snap_id:
                # Create page: from a snapshot, __system__encrypted, __system__cmkid and hw:passthrough may not be
                # given: the new disk takes them from the snapshot's source disk (error table: EVS.1043).
                if any(k in metadata for k in ("__system__encrypted", "__system__cmkid", "hw:passthrough")):
                    raise Fail(400, "EVS.1043", "encrypt and cmk and passthrougth in metadata is not support when "
                                                "create volume from snapshot or image!")
                snap = state.snapshots.get(snap_id)
                if not snap:
                    raise Fail(404, "EVS.5404", f"snapshot {snap_id} could not be found")
                if snap["status"] != "available":
                    raise Fail(400, "EVS.2043", "The status of snapshot is not available or backing-up.")
                if not isinstance(size, int) or size < snap["size"]:
                    raise Fail(400, "EVS.1010", "invalid volume size!")
                src = snap["_source"]
                if src["volume_type"] != vtype:
                    raise Fail(400, "EVS.2096", f"Target volumeType[{vtype}] is not matched with snapshot[{src['volume_type']}] !")
                for key in ("__system__encrypted", "__system__cmkid", "hw:passthrough"):
                    if key in src["metadata"]:
                        metadata[key] = src["metadata"][key]
            elif not isinstance(size, int) or not 10 <= size <= 32768:
                raise Fail(400, "EVS.1010", "invalid volume size!")
            n = count or 1
            # Quota (error table): the volume count EVS.1034, the gigabytes EVS.1042 (both 400).
            if state.quota_volumes >= 0 and len(state.volumes) + n > state.quota_volumes:
                raise Fail(400, "EVS.1034", "volume count exceeded volume count quota!")
            if state.quota_gib >= 0 and sum(v["size"] for v in state.volumes.values()) + n * size > state.quota_gib:
                raise Fail(400, "EVS.1042", "volume gigabytes exceeded volume gigabytes quota!")
            fault = state.take_fault("POST", "/v2.1/{p}/cloudvolumes#job", {"fail-job", "slow-job"})
            made = []
            for i in range(n):
                vid = str(uuid.uuid4())
                now = time.time()
                shared = bool(vol.get("multiattach"))
                name = vol.get("name", "")
                if n > 1:
                    name = f"{name}-{i + 1:04d}"  # create page: batch disks are named <name>-0001, <name>-0002, ...
                v = {
                    "id": vid, "name": name, "status": "creating", "size": size,
                    "availability_zone": az, "volume_type": vtype, "multiattach": shared,
                    "shareable": "true" if shared else "false", "bootable": "false",
                    "encrypted": metadata.get("__system__encrypted") == "1",
                    "metadata": dict(metadata), "attachments": [], "snapshot_id": snap_id or "",
                    "description": vol.get("description", ""), "created_at": iso(now), "updated_at": iso(now),
                    "wwn": ("688860300000" + uuid.uuid4().hex[:20]) if metadata.get("hw:passthrough") == "true" else "",
                    "service_type": "EVS", "tags": {}, "links": [],
                    "_created": now,
                }
                if vtype == "GPSSD2":  # the volume object's provisioned performance: {"id", "total_val", "frozened", ...}
                    v["iops"] = qos_object(vid, vol["iops"])
                    v["throughput"] = qos_object(vid, vol["throughput"])
                state.volumes[vid] = v
                made.append(v)

            def ok():
                for v in made:
                    v["status"] = "available"
                    v["updated_at"] = iso()

            def failed():
                for v in made:
                    v["status"] = "error"
                    v["updated_at"] = iso()

            seconds = fault.get("seconds") if fault and fault["action"] == "slow-job" else None
            fail = bool(fault and fault["action"] == "fail-job")
            if count is None:
                entities = {"volume_id": made[0]["id"], "volume_type": vtype, "size": size, "name": made[0]["name"]}
                job_type = "createVolume"
            else:
                # Job page: a batch job (job_type batchCreateVolume) lists its disks in entities.sub_jobs[], each a
                # createVolume job with entities.volume_id. FAKE'S CHOICE: any request that states "count" (also 1)
                # is answered with a batch job; the page does not say when EVS makes one.
                entities = {"sub_jobs": [{"job_id": uuid.uuid4().hex, "job_type": "createVolume",
                                          "entities": {"volume_id": v["id"]}, "begin_time": iso_z(time.time()),
                                          "end_time": "", "error_code": None, "fail_reason": None} for v in made]}
                job_type = "batchCreateVolume"
            job = state.new_job(job_type, entities, ok, failed, seconds=seconds, fail=fail)
            # Create page (v2.1): 202 {"job_id"}; the response table also lists volume_ids.
            return 202, {"job_id": job, "volume_ids": [v["id"] for v in made]}, []

        def list_volumes(self, q):
            items = sorted(state.volumes.values(), key=lambda v: (v["_created"], v["id"]))
            for key in ("name", "id", "status", "availability_zone"):
                if q.get(key):
                    items = [v for v in items if v.get(key) == q[key]]
            if q.get("metadata"):
                want = json.loads(q["metadata"])
                items = [v for v in items if all(v["metadata"].get(k) == val for k, val in want.items())]
            total = len(items)
            offset, limit = int_param(q, "offset", 0), int_param(q, "limit", 1000)
            # Disk list page: limit 1 to 1000 (default 1000); offset "an integer greater than 0 and less than the
            # number of disks". FAKE'S CHOICE: offset=0 is refused like any other offset out of that range below
            # total; an offset at or past the end gives an empty page.
            if not 1 <= limit <= 1000:
                raise Fail(400, "EVS.5400", "limit param must be positive.")
            if "offset" in q and offset <= 0:
                raise Fail(400, "EVS.5400", "offset param must be an integer greater than 0.")
            page = items[offset:offset + limit]
            return 200, {"volumes": [state.volume_view(v) for v in page], "count": total}, []

        def delete_volume(self, vid):
            v = self.volume(vid)
            # Error table, EVS.1046: the statuses a disk may be deleted in.
            if v["attachments"] or v["status"] not in DELETABLE:
                raise Fail(400, "EVS.1046", "volume status must be available, error,  error_extending, error_restoring, "
                                            f"error_rollbacking when delete volume! (status {v['status']})")
            # FAKE'S CHOICE: a disk with snapshots is refused (EVS deletes them with the disk; the driver's R13
            # never lets it get here, and a refusal shows a driver that did).
            if any(s["volume_id"] == vid for s in state.snapshots.values()):
                raise Fail(400, "EVS.5400", f"Invalid volume: volume {vid} has snapshots")
            v["status"] = "deleting"
            fault = state.take_fault("DELETE", "/v2/{p}/cloudvolumes#job", {"fail-job", "slow-job"})

            def gone():
                state.volumes.pop(vid, None)

            def failed():
                v["status"] = "error_deleting"

            job = state.new_job("deleteVolume", {"volume_id": vid}, gone, failed,
                                seconds=fault.get("seconds") if fault and fault["action"] == "slow-job" else None,
                                fail=bool(fault and fault["action"] == "fail-job"))
            return 200, {"job_id": job}, []  # delete page (v2): 200 {"job_id"}

        def extend(self, vid, req):
            v = self.volume(vid)
            new = (req.get("os-extend") or {}).get("new_size")
            if not isinstance(new, int):
                raise Fail(400, "EVS.1011", "null extendVolumeReq!")
            if v["status"] not in ("available", "in-use"):
                raise Fail(400, "EVS.1064", "volume status must be available or in-use when extending!")
            if v["multiattach"] and v["status"] == "in-use":
                raise Fail(400, "EVS.1065", "multiattach volume status must be available when extending!")
            if new <= v["size"] or new > 32768:
                raise Fail(400, "EVS.1010", "invalid volume size!")
            before = v["status"]
            v["status"] = "extending"

            def ok():
                v["size"] = new
                v["status"] = before

            fault = state.take_fault("POST", "/v2.1/{p}/cloudvolumes/action#job", {"fail-job", "slow-job"})
            job = state.new_job("extendVolume", {"volume_id": vid}, ok, lambda: v.update(status="error_extending"),
                                seconds=fault.get("seconds") if fault and fault["action"] == "slow-job" else None,
                                fail=bool(fault and fault["action"] == "fail-job"))
            return 202, {"job_id": job}, []  # expand page (v2.1): 202

        # Disk metadata (the Cinder-compatible v2 endpoints of the EVS API reference: "Adding Metadata of an EVS
        # Disk", "Querying One Piece of Metadata", "Deleting One Piece of Metadata"). Keys and values are strings of
        # at most 255 bytes; the disk may be in any state.
        def add_metadata(self, vid, req):
            v = self.volume(vid)
            meta = req.get("metadata")
            if not isinstance(meta, dict):
                raise Fail(400, "EVS.5400", "Invalid input received: metadata is required")
            for k, val in meta.items():
                if not isinstance(val, str):
                    raise Fail(400, "EVS.5400", f"Invalid input received: the value of metadata key {k} must be a string")
                if not k or len(k.encode()) > 255 or len(val.encode()) > 255:
                    raise Fail(400, "EVS.5400", "Invalid input received: metadata key and value must be 1 to 255 bytes")
            v["metadata"].update(meta)
            v["updated_at"] = iso()
            return 200, {"metadata": dict(v["metadata"])}, []

        def one_metadata(self, method, vid, key):
            v = self.volume(vid)
            if key not in v["metadata"]:
                raise Fail(404, "EVS.5404", f"Volume {vid} has no metadata with key {key}.")
            if method == "GET":
                return 200, {"meta": {key: v["metadata"][key]}}, []
            del v["metadata"][key]
            v["updated_at"] = iso()
            return 200, None, []

        def modify_qos(self, vid, req):
            """ModifyVolumeQoS: GPSSD2 takes both iops and throughput (ESSD2, iops only, is not offered here)."""
            v = self.volume(vid)
            qos = req.get("qos_modify")
            if not isinstance(qos, dict):
                raise Fail(400, "EVS.5400", "Invalid input received: qos_modify is required")
            if v["volume_type"] != "GPSSD2":
                raise Fail(400, "EVS.5400", f"Invalid input received: volume type {v['volume_type']} does not support QoS modification")
            iops, throughput = qos.get("iops"), qos.get("throughput")
            for name, value in (("iops", iops), ("throughput", throughput)):
                if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                    raise Fail(400, "EVS.5400", f"Invalid input received: {name} must be a positive integer")
            if v["status"] not in ("available", "in-use"):
                raise Fail(400, "EVS.5400", f"Invalid volume: volume status must be available or in-use, but current status is: {v['status']}")

            def ok():  # the status stays as it is: the change applies to an attached disk as well
                v["iops"]["total_val"] = iops
                v["throughput"]["total_val"] = throughput
                v["updated_at"] = iso()

            job = state.new_job("modifyVolumeQoS", {"volume_id": vid}, ok)
            return 202, {"job_id": job}, []

        def create_snapshot(self, req):
            s = req.get("snapshot")
            if not isinstance(s, dict) or not s.get("volume_id"):
                raise Fail(400, "EVS.5400", "Invalid input received: snapshot.volume_id is required")
            v = self.volume(s["volume_id"])
            allowed = ("available", "in-use") if s.get("force") else ("available",)
            if v["status"] not in allowed:
                # huaweicloud-csi-driver issue 125: an in-use disk without force is refused with EVS.5400.
                raise Fail(400, "EVS.5400", f"Invalid volume: volume {v['id']} status must be available, but current status is: {v['status']}")
            sid = str(uuid.uuid4())
            now = time.time()
            fault = state.take_fault("POST", "/v2/{p}/cloudsnapshots#job", {"fail-job", "slow-job"})
            seconds = fault.get("seconds") if fault and fault["action"] == "slow-job" else state.snapshot_seconds
            snap = {
                "id": sid, "name": s.get("name", ""), "description": s.get("description", ""),
                "metadata": s.get("metadata") or {}, "status": "creating", "size": v["size"],
                "volume_id": v["id"], "created_at": iso(now), "updated_at": iso(now),
                "_created": now, "_source": {"volume_type": v["volume_type"], "multiattach": v["multiattach"],
                                             "metadata": dict(v["metadata"])},
                "_due": now + seconds if seconds >= 0 else float("inf"), "_fail": bool(fault and fault["action"] == "fail-job"),
            }
            state.snapshots[sid] = snap
            return 202, {"snapshot": state.snapshot_view(snap)}, []  # create snapshot page: 202

        def list_snapshots(self, q):
            items = sorted(state.snapshots.values(), key=lambda s: (s["_created"], s["id"]))
            for key in ("id", "name", "volume_id", "status"):
                if q.get(key):
                    items = [s for s in items if s.get(key) == q[key]]
            total = len(items)
            offset, limit = int_param(q, "offset", 0), int_param(q, "limit", 1000)
            if not 1 <= limit <= 1000 or offset < 0:
                raise Fail(400, "EVS.5400", "limit param must be positive.")
            return 200, {"snapshots": [state.snapshot_view(s) for s in items[offset:offset + limit]], "count": total}, []

        def delete_snapshot(self, sid):
            s = state.snapshots.get(sid)
            if not s:
                raise Fail(404, "EVS.5404", f"snapshot {sid} could not be found")
            if s["status"] not in ("available", "error"):
                raise Fail(400, "EVS.1047", "snapshot status must be available or error when delete snapshot!")
            if any(v["snapshot_id"] == sid and v["status"] == "creating" for v in state.volumes.values()):
                raise Fail(400, "EVS.5400", f"Invalid snapshot: a disk is being created from snapshot {sid}")
            state.snapshots.pop(sid)
            return 202, None, []  # delete snapshot page: 202

        def attach(self, server, req):
            if server not in SERVERS:
                raise Fail(404, "Ecs.0114", f"Instance[{server}] could not be found.")
            vid = (req.get("volumeAttachment") or {}).get("volumeId")
            if not isinstance(vid, str):
                raise Fail(400, "Ecs.0005", "Invalid request body.")
            v = state.volumes.get(vid)
            # ECS error table, Ecs.0103: "The disk can be attached to a server only if it exists and the state must
            # be in the available." (a shared disk may also be in-use elsewhere). FAKE'S CHOICE: the same code for a
            # disk already attached to this server.
            if not v or any(a["server_id"] == server for a in v["attachments"]) \
                    or v["status"] not in ("available", "in-use") or (v["status"] == "in-use" and not v["multiattach"]):
                raise Fail(400, "Ecs.0103", "The disk can be attached to a server only if it exists and the state must "
                                            f"be in the available. (volume {vid}, status {v['status'] if v else 'none'})")
            if sum(1 for x in state.volumes.values() for a in x["attachments"] if a["server_id"] == server) >= 59:
                raise Fail(400, "Ecs.0104", f"server {server} has reached its volume limit")
            previous = v["status"]
            v["status"] = "attaching"
            fault = state.take_fault("POST", "/v1/{p}/cloudservers/attachvolume#job", {"fail-job", "slow-job"})
            used = {a["device"] for x in state.volumes.values() for a in x["attachments"] if a["server_id"] == server}
            device = next(f"/dev/vd{c}" for c in "bcdefghijklmnopqrstuvwxyz" if f"/dev/vd{c}" not in used)

            def ok():
                aid = str(uuid.uuid4())
                v["attachments"].append({"server_id": server, "attachment_id": aid, "attached_at": iso(),
                                         "host_name": None, "volume_id": vid, "device": device, "id": vid})
                v["status"] = "in-use"

            job = state.new_job("attachVolume", {"server_id": server, "volume_id": vid}, ok,
                                lambda: v.update(status=previous),
                                seconds=fault.get("seconds") if fault and fault["action"] == "slow-job" else None,
                                fail=bool(fault and fault["action"] == "fail-job"), fail_code="Ecs.0005",
                                fail_reason="attach volume failed", service="ecs")
            return 200, {"job_id": job}, []

        def detach(self, server, vid):
            if server not in SERVERS:
                raise Fail(404, "Ecs.0114", f"Instance[{server}] could not be found.")
            v = state.volumes.get(vid)
            if v and state.take_fault("DELETE", path_of_detach(server, vid), {"detached"}):
                # Fault "detached": someone else detached the disk just before this request (the race the
                # driver's re-read cannot close); ECS then finds it no longer attached.
                v["attachments"] = [a for a in v["attachments"] if a["server_id"] != server]
                v["status"] = "in-use" if v["attachments"] else "available"
            if not v or not any(a["server_id"] == server for a in v["attachments"]):
                # ECS error table: 400 Ecs.0111 "The EVS disk has been detached from the ECS."
                raise Fail(400, "Ecs.0111", f"The EVS disk has been detached from the ECS. (volume {vid}, server {server})")
            v["status"] = "detaching"

            def ok():
                v["attachments"] = [a for a in v["attachments"] if a["server_id"] != server]
                v["status"] = "in-use" if v["attachments"] else "available"

            job = state.new_job("detachVolume", {"server_id": server, "volume_id": vid}, ok,
                                lambda: v.update(status="in-use"), service="ecs")
            return 200, {"job_id": job}, []

        # --- control -----------------------------------------------------------------------------------------

        def control(self, method, path, body):
            with state.lock:
                if path == "/_fake/faults" and method == "POST":
                    req = json_body(body)
                    for f in req.get("faults", []):
                        f.setdefault("count", 1)
                        state.faults.append(f)
                    for key in ("job_seconds", "snapshot_seconds", "token_ttl", "quota_volumes", "quota_gib"):
                        if key in req:
                            setattr(state, key, req[key])
                    return 200, {"faults": state.faults}, []
                if path == "/_fake/release" and method == "POST":
                    now = time.time()
                    held = [x for x in state.snapshots.values() if x["status"] == "creating" and x["_due"] > now]
                    for x in held:
                        x["_due"] = now
                    jobs = [j for table in state.jobs.values() for j in table.values()
                            if j["done"] is None and j["due"] > now]
                    for j in jobs:
                        j["due"] = now
                    return 200, {"snapshots": len(held), "jobs": len(jobs)}, []
                if path == "/_fake/expire-tokens" and method == "POST":
                    for t in state.tokens:
                        state.tokens[t] = 0
                    return 200, {"expired": len(state.tokens)}, []
                if path == "/_fake/volume-status" and method == "POST":
                    req = json_body(body)
                    v = state.volumes.get(req.get("id"))
                    if not v or req.get("status") not in VOLUME_STATUSES:
                        raise Fail(400, "fake", f"no such disk or status: {req}")
                    v["status"] = req["status"]
                    return 200, {"volume": state.volume_view(v)}, []
                if path == "/_fake/snapshot-source" and method == "POST":
                    # What a restore from this snapshot inherits (type, sharing, hw:passthrough, encryption keys),
                    # changed behind the driver's back: a test of the driver's check after the restore.
                    req = json_body(body)
                    snap = state.snapshots.get(req.get("id"))
                    if not snap:
                        raise Fail(400, "fake", f"no such snapshot: {req}")
                    snap["_source"]["metadata"].update(req.get("metadata") or {})
                    return 200, {"source": snap["_source"]}, []
                if path == "/_fake/reset" and method == "POST":
                    state.reset()
                    return 200, {}, []
                if path == "/_fake/log" and method == "GET":
                    return 200, {"requests": state.log}, []
                if path == "/_fake/state" and method == "GET":
                    state.settle()
                    return 200, {
                        "volumes": [state.volume_view(v) for v in state.volumes.values()],
                        "snapshots": [state.snapshot_view(s) for s in state.snapshots.values()],
                        "jobs": [dict(state.job_view(j), service=service_name)
                                 for service_name, table in state.jobs.items() for j in table.values()],
                        "requests": state.requests, "tokens_issued": state.tokens_issued,
                        "faults": state.faults,
                    }, []
            raise Fail(404, "APIGW.0101", "no such control endpoint", "apigw")

    return Handler


def qos_object(vid, total):
    return {"id": str(uuid.uuid4()), "total_val": total, "frozened": False, "volume_id": vid}


def path_of_detach(server, vid):
    return f"/v1/{PROJECT}/cloudservers/{server}/detachvolume/{vid}"


def int_param(q, key, default):
    try:
        return int(q.get(key, default))
    except ValueError:
        raise Fail(400, "EVS.5400", f"{key} param must be an integer.")


def json_body(body):
    try:
        obj = json.loads(body or b"{}")
    except ValueError:
        raise Fail(400, "EVS.1070", "invalid request.")
    if not isinstance(obj, dict):
        raise Fail(400, "EVS.1070", "invalid request.")
    return obj


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_certs(d):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key",
            "-out", "ca.pem", "-days", "2", "-subj", "/CN=fake-evs-ca", cwd=d)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "server.key",
            "-out", "server.csr", "-subj", "/CN=fake-evs", cwd=d)
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "san.ext", cwd=d)


def write_credentials(d):
    aksk = os.path.join(d, "credentials-aksk")  # a mounted Secret: one file per key
    os.makedirs(aksk, exist_ok=True)
    for k, v in (("access_key", AK), ("secret_key", SK)):
        with open(os.path.join(aksk, k), "w") as f:
            f.write(v)
    password = os.path.join(d, "credentials-password.env")  # one file of key=value lines
    with open(password, "w") as f:
        f.write(f"# IAM user for the fake\nusername={USER}\npassword={PASSWORD}\ndomain_name={DOMAIN}\n")
    for p in (password, os.path.join(aksk, "access_key"), os.path.join(aksk, "secret_key")):
        os.chmod(p, 0o600)
    return aksk, password


def watch_parent(server):
    parent = os.getppid()
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--dir", default=None)
    ap.add_argument("--job-seconds", type=float, default=0.2, help="how long an EVS/ECS job runs")
    ap.add_argument("--snapshot-seconds", type=float, default=0.5, help="how long a snapshot stays creating")
    ap.add_argument("--token-ttl", type=float, default=86400, help="lifetime of IAM tokens (seconds)")
    ap.add_argument("--quota-gib", type=int, default=-1, help="the project's gigabytes quota (-1: unlimited)")
    ap.add_argument("--quota-volumes", type=int, default=-1, help="the project's disk count quota (-1: unlimited)")
    args = ap.parse_args()
    d = args.dir or tempfile.mkdtemp(prefix="fake-evs-")
    os.makedirs(d, exist_ok=True)
    make_certs(d)
    aksk, password = write_credentials(d)
    state = State(args)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(d, "server.pem"), os.path.join(d, "server.key"))
    servers = {}
    for service, port in (("evs", args.port), ("ecs", 0), ("iam", 0)):
        server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(state, service))
        server.daemon_threads = True
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        servers[service] = server
    threading.Thread(target=watch_parent, args=(servers["evs"],), daemon=True).start()
    for service in ("ecs", "iam"):
        threading.Thread(target=servers[service].serve_forever, daemon=True).start()
    url = {service: f"https://127.0.0.1:{server.server_address[1]}" for service, server in servers.items()}
    print(json.dumps({
        "url": url["evs"], "ecs_url": url["ecs"], "iam_url": url["iam"], "port": servers["evs"].server_address[1],
        "dir": d, "ca": os.path.join(d, "ca.pem"),
        "project_id": PROJECT, "region": REGION, "zones": ZONES, "servers": SERVERS,
        "access_key": AK, "secret_key": SK, "username": USER, "password": PASSWORD, "domain": DOMAIN,
        "credentials_aksk": aksk, "credentials_password": password,
    }), flush=True)
    servers["evs"].serve_forever()


if __name__ == "__main__":
    main()
