#!/usr/bin/env python3
"""A fake kube-apiserver for tests of KubeClient and kubectl-evssnap.

It follows the Kubernetes API conventions as recorded in fixtures/ (real kube-apiserver v1.36.2 traffic, see
fixtures/INDEX.md): discovery documents, Status objects (401/403/404/409/422/400), resourceVersion, limit/continue
paging, dryRun=All, Warning headers, watches, and an in-memory store seeded from the recorded objects.

It speaks HTTPS only. At start it makes a CA, a server certificate (SAN 127.0.0.1, ::1, localhost) and a client
certificate (CN=admin, O=system:masters) with `openssl` in a temp dir (or --dir), writes kubeconfigs there, and prints
ONE JSON line on stdout:

  {"url": "https://127.0.0.1:PORT", "port": PORT, "dir": DIR, "ca": CA.pem, "caKey": ..., "clientCert": ..., "clientKey": ...,
   "token": ADMIN_TOKEN, "kubeconfig": DIR/kubeconfig (client cert), "kubeconfigToken": DIR/kubeconfig-token}

Authentication: a client certificate signed by the CA (user = CN, groups = O), or `Authorization: Bearer T` for a
token given with --token T=USER[,GROUP...] (default: fake-admin-token=admin,system:masters). An unknown token gets
401; no credentials -> user system:anonymous, which is forbidden everything except /version.

Knobs (flags):
  --port N                    listen port (0 = pick one; default 0)
  --dir PATH                  where certs/kubeconfigs go (default: a new temp dir)
  --version vX.Y.Z            what /version reports (default v1.36.2)
  --snapshot-versions LIST    served snapshot.storage.k8s.io versions: "v1" (default), "v1beta1", "v1,v1beta1", "none"
  --no-seed                   start with an empty store (namespaces default and apps only)
  --token T=USER[,GROUP...]   accept a bearer token (repeatable)
  --forbid VERB:RESOURCE[:USER]  deny VERB (get/list/create/delete/watch or *) on RESOURCE (plural or *) for USER
                              (default every user except system:masters members); repeatable
  --snapshot-ready-delay S    seconds until a created VolumeSnapshot becomes ready (default 0; negative = never)
  --restore-bind-delay S      seconds until a restore PVC binds (default 0; negative = never)
  --fail METHOD:PATHPREFIX:CODE  answer CODE with a generic Status for matching requests (repeatable)
  --slow PATHPREFIX:SECONDS   sleep before answering matching requests (for --request-timeout tests; repeatable)
  --san LIST                  subjectAltName of the server certificate (default IP:127.0.0.1,IP:::1,DNS:localhost,
                              DNS:kubernetes.default.svc); e.g. DNS:api.internal to test tls-server-name
The server exits by itself when its parent process goes away (so a crashed test run leaves nothing behind).
Debug endpoint (no auth): GET /__fake__/requests returns the requests seen so far (method, path, user, userAgent,
contentType); DELETE /__fake__/requests clears it.
"""

import argparse
import base64
import copy
import datetime
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")

SNAP = "snapshot.storage.k8s.io"


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return json.load(f)


def body_of(name):
    return fixture(name)["response"]["body"]


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- resources --------------------------------------------------------------------------------------------------

class Res:
    def __init__(self, group, version, plural, kind, namespaced):
        self.group, self.version, self.plural, self.kind, self.namespaced = group, version, plural, kind, namespaced

    @property
    def qualified(self):
        return self.plural if not self.group else f"{self.plural}.{self.group}"

    @property
    def api_version(self):
        return self.version if not self.group else f"{self.group}/{self.version}"


CORE = [
    Res("", "v1", "namespaces", "Namespace", False),
    Res("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True),
    Res("", "v1", "persistentvolumes", "PersistentVolume", False),
    Res("", "v1", "events", "Event", True),
    Res("", "v1", "nodes", "Node", False),
]
STORAGE = [
    Res("storage.k8s.io", "v1", "storageclasses", "StorageClass", False),
    Res("storage.k8s.io", "v1", "csidrivers", "CSIDriver", False),
]
EVENTS_V1 = [Res("events.k8s.io", "v1", "events", "Event", True)]
# evssnap's own CRD (deploy/snapshotschedule-crd.yaml), served with --evssnap-crd: status subresource, merge PATCH.
EVSSNAP = "evssnap.io"
SCHEDULES = [Res(EVSSNAP, "v1alpha1", "snapshotschedules", "SnapshotSchedule", True)]


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def snapshot_resources(version):
    return [
        Res(SNAP, version, "volumesnapshots", "VolumeSnapshot", True),
        Res(SNAP, version, "volumesnapshotcontents", "VolumeSnapshotContent", False),
        Res(SNAP, version, "volumesnapshotclasses", "VolumeSnapshotClass", False),
    ]


RFC1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
SUFFIX = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60, "m": 0.001}


def quantity_bytes(q):
    m = QUANTITY.match(q or "")
    if not m or m.group(2) not in SUFFIX:
        return None
    try:
        return float(m.group(1)) * SUFFIX[m.group(2)]
    except ValueError:
        return None


def status(code, reason, message, details=None):
    s = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
         "reason": reason}
    if details is not None:
        s["details"] = details
    s["code"] = code
    return s


class ApiError(Exception):
    def __init__(self, code, body, warnings=None, plain=None):
        super().__init__(code)
        self.code, self.body, self.warnings, self.plain = code, body, warnings or [], plain


def not_found_plain():
    return ApiError(404, None, plain="404 page not found\n")


# --- state ------------------------------------------------------------------------------------------------------

class Store:
    """Objects per (group, plural) keyed by (namespace, name). resourceVersion is one global counter.
    All access holds `cond` (a Condition over one lock), which also wakes watchers."""

    def __init__(self):
        self.cond = threading.Condition()
        self.rv = 400  # after the recorded objects (their resourceVersions stay as recorded)
        self.objects = {}  # (group, plural) -> {(ns, name): obj}
        self.log = []  # (rv, type, group, plural, ns, obj) for watches
        self.oldest_rv = self.rv

    def bucket(self, group, plural):
        return self.objects.setdefault((group, plural), {})

    def next_rv(self):
        self.rv += 1
        return self.rv

    def put(self, group, plural, obj, event="ADDED", keep_rv=False):
        md = obj.setdefault("metadata", {})
        if not keep_rv:
            md["resourceVersion"] = str(self.next_rv())
        key = (md.get("namespace", ""), md["name"])
        self.bucket(group, plural)[key] = obj
        self.log.append((int(md.get("resourceVersion", self.rv)), event, group, plural, key[0], copy.deepcopy(obj)))
        self.cond.notify_all()

    def remove(self, group, plural, ns, name):
        obj = self.bucket(group, plural).pop((ns, name), None)
        if obj is not None:
            obj = copy.deepcopy(obj)
            obj["metadata"]["resourceVersion"] = str(self.next_rv())
            self.log.append((self.rv, "DELETED", group, plural, ns, copy.deepcopy(obj)))
            self.cond.notify_all()
        return obj


def strip(obj):
    obj = copy.deepcopy(obj)
    return obj


def seed(store, snapshot_versions):
    def add(group, plural, objs):
        for o in objs:
            o = copy.deepcopy(o)
            if group == SNAP and snapshot_versions:
                o["apiVersion"] = f"{SNAP}/{snapshot_versions[0]}"
            store.put(group, plural, o, keep_rv=True)

    add("", "namespaces", [body_of("27-namespace-apps.json")])
    add("", "persistentvolumeclaims", body_of("10-pvc-list-apps.json")["items"])
    add("", "persistentvolumeclaims", [body_of("41-pvc-restore-get-bound.json")])
    add("", "persistentvolumes", body_of("15-pv-list.json")["items"])
    add("", "persistentvolumes", [body_of("42-pv-restore-get.json")])
    add("storage.k8s.io", "storageclasses", body_of("21-storageclass-list.json")["items"])
    add("storage.k8s.io", "csidrivers", body_of("24-csidriver-list.json")["items"])
    if snapshot_versions:
        add(SNAP, "volumesnapshotclasses", body_of("22-volumesnapshotclass-list.json")["items"])
        add(SNAP, "volumesnapshots", body_of("35-volumesnapshot-list-apps.json")["items"])
        add(SNAP, "volumesnapshotcontents", body_of("34-volumesnapshotcontent-list.json")["items"])
    evs = []
    for f in ("43-events-core-v1-snap-1.json", "46-events-core-v1-restore-pvc.json", "60-events-snap-2-delete-pending.json"):
        evs += body_of(f)["items"]
    add("", "events", evs)
    add("events.k8s.io", "events", body_of("44-events-events-k8s-io-v1-snap-1.json")["items"])


def base_namespaces(store):
    for name in ("default", "kube-system", "apps"):
        if ("", name) not in store.bucket("", "namespaces"):
            store.put("", "namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                         "metadata": {"name": name, "uid": str(uuid.uuid4()),
                                                      "creationTimestamp": now_rfc3339(),
                                                      "labels": {"kubernetes.io/metadata.name": name}},
                                         "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}},
                      keep_rv=False)


# --- continue tokens (same shape as the real ones: base64url of {"v","rv","start"}) ------------------------------

def make_continue(rv, last_key):
    start = f"{last_key[0]}/{last_key[1]}\u0000" if last_key[0] else f"/{last_key[1]}\u0000"
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def parse_continue(tok):
    try:
        pad = "=" * (-len(tok) % 4)
        d = json.loads(base64.urlsafe_b64decode(tok + pad))
        start = d["start"].rstrip("\u0000")
        ns, _, name = start.rpartition("/")
        return (ns, name)
    except Exception:
        return None


# --- selectors ---------------------------------------------------------------------------------------------------

def get_path(obj, dotted):
    cur = obj
    for part in dotted.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def field_selector_ok(res, sel):
    """Returns None when every field label is supported, else the unsupported label."""
    allowed = {"metadata.name", "metadata.namespace"}
    if res.plural == "events" and res.group == "":
        allowed |= {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
                    "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
                    "reason", "reportingComponent", "source", "type"}
    if res.plural == "events" and res.group == "events.k8s.io":
        allowed |= {"regarding.kind", "regarding.namespace", "regarding.name", "regarding.uid",
                    "regarding.apiVersion", "regarding.resourceVersion", "regarding.fieldPath", "reason", "type",
                    "reportingController"}
    if res.plural == "persistentvolumeclaims":
        allowed |= {"status.phase"}
    for term in filter(None, sel.split(",")):
        label = re.split(r"!=|==|=", term, maxsplit=1)[0]
        if label not in allowed:
            return label
    return None


def selector_terms(sel):
    """Splits a selector on the commas outside parentheses (set-based terms hold commas: `tier in (a,b)`)."""
    terms, cur, depth = [], "", 0
    for ch in sel:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(cur)
            cur = ""
        else:
            cur += ch
    terms.append(cur)
    if depth != 0:
        raise ApiError(400, status(400, "BadRequest", f"unable to parse requirement: unbalanced parentheses in {sel!r}"))
    return [t.strip() for t in terms if t.strip()]


def match_selector(obj, sel, fields):
    """Field selectors take `k=v`, `k==v`, `k!=v`; label selectors also `k in (a,b)`, `k notin (a,b)`, `k`, `!k`
    (k8s.io/apimachinery/pkg/labels: notin and != hold when the key is absent)."""
    for term in selector_terms(sel):
        m = None if fields else re.match(r"^(\S+)\s+(in|notin)\s*\((.*)\)$", term)
        if m:
            key, op = m.group(1), m.group(2)
            values = {v.strip() for v in m.group(3).split(",") if v.strip()}
            actual = (obj.get("metadata", {}).get("labels") or {}).get(key)
            if op == "in" and actual not in values:
                return False
            if op == "notin" and actual is not None and actual in values:
                return False
            continue
        if not fields and term.startswith("!"):
            if term[1:].strip() in (obj.get("metadata", {}).get("labels") or {}):
                return False
            continue
        m = re.match(r"^([^!=]+)(!=|==|=)?(.*)$", term)
        key, op, val = m.group(1).strip(), m.group(2), m.group(3).strip()
        actual = get_path(obj, key) if fields else (obj.get("metadata", {}).get("labels") or {}).get(key)
        if actual is not None and not isinstance(actual, str):
            actual = str(actual)
        if op is None:
            if actual is None:
                return False
        elif op == "!=":
            if actual == val:
                return False
        elif actual != val:
            return False
    return True


# --- the server --------------------------------------------------------------------------------------------------

class Fake:
    def __init__(self, args):
        self.args = args
        self.store = Store()
        sv = [] if args.snapshot_versions in ("", "none") else [v.strip() for v in args.snapshot_versions.split(",") if v.strip()]
        self.snapshot_versions = sv
        self.resources = CORE + STORAGE + EVENTS_V1 + [r for v in sv for r in snapshot_resources(v)]
        if args.evssnap_crd:
            self.resources += SCHEDULES
        self.tokens = {}
        for spec in args.token or ["fake-admin-token=admin,system:masters"]:
            tok, _, who = spec.partition("=")
            parts = who.split(",")
            self.tokens[tok] = (parts[0], parts[1:])
        self.forbid = []
        for spec in args.forbid or []:
            verb, _, rest = spec.partition(":")
            resource, _, user = rest.partition(":")
            self.forbid.append((verb, resource, user or None))
        self.fail = []
        for spec in args.fail or []:
            m, rest = spec.split(":", 1)
            p, c = rest.rsplit(":", 1)
            self.fail.append((m.upper(), p, int(c)))
        self.slow = []
        for spec in args.slow or []:
            p, secs = spec.rsplit(":", 1)
            self.slow.append((p, float(secs)))
        self.requests = []
        self.req_lock = threading.Lock()
        with self.store.cond:
            if not args.no_seed:
                seed(self.store, sv)
            base_namespaces(self.store)
            self.store.oldest_rv = 100  # watches from below this get 410 Expired, like fixture 92

    # -- lookup
    def find_res(self, group, version, plural):
        for r in self.resources:
            if r.group == group and r.version == version and r.plural == plural:
                return r
        return None

    def group_versions(self):
        gv = {"": ["v1"], "storage.k8s.io": ["v1"], "events.k8s.io": ["v1"]}
        if self.snapshot_versions:
            gv[SNAP] = list(self.snapshot_versions)
        if self.args.evssnap_crd:
            gv[EVSSNAP] = ["v1alpha1"]
        return gv

    # -- discovery
    def version_doc(self):
        v = copy.deepcopy(body_of("01-version.json"))
        m = re.match(r"^v?(\d+)\.(\d+)\.(\d+)", self.args.version)
        if m:
            v["major"], v["minor"] = m.group(1), m.group(2)
            v["emulationMajor"], v["emulationMinor"] = m.group(1), m.group(2)
            v["minCompatibilityMajor"], v["minCompatibilityMinor"] = m.group(1), str(max(0, int(m.group(2)) - 1))
        v["gitVersion"] = self.args.version if self.args.version.startswith("v") else "v" + self.args.version
        return v

    def apis_doc(self):
        doc = copy.deepcopy(body_of("03-apis.json"))
        groups = []
        for g in doc["groups"]:
            if g["name"] == SNAP:
                if not self.snapshot_versions:
                    continue
                g["versions"] = [{"groupVersion": f"{SNAP}/{v}", "version": v} for v in self.snapshot_versions]
                g["preferredVersion"] = g["versions"][0]
            groups.append(g)
        if self.snapshot_versions and not any(g["name"] == SNAP for g in groups):
            vs = [{"groupVersion": f"{SNAP}/{v}", "version": v} for v in self.snapshot_versions]
            groups.append({"name": SNAP, "versions": vs, "preferredVersion": vs[0]})
        if self.args.evssnap_crd:
            v = {"groupVersion": f"{EVSSNAP}/v1alpha1", "version": "v1alpha1"}
            groups.append({"name": EVSSNAP, "versions": [v], "preferredVersion": v})
        doc["groups"] = groups
        return doc

    def group_doc(self, group):
        for g in self.apis_doc()["groups"]:
            if g["name"] == group:
                return {"kind": "APIGroup", "apiVersion": "v1", **g}
        return None

    def resource_list_doc(self, group, version):
        if group == SNAP:
            if version not in self.snapshot_versions:
                return None
            doc = copy.deepcopy(body_of("07-snapshot-v1-resources.json"))
            doc["groupVersion"] = f"{SNAP}/{version}"
            return doc
        if group == "storage.k8s.io" and version == "v1":
            return body_of("09-storage-v1-resources.json")
        if group == "" and version == "v1":
            return {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
                {"name": r.plural, "singularName": r.kind.lower(), "namespaced": r.namespaced, "kind": r.kind,
                 "verbs": ["create", "delete", "get", "list", "watch"]} for r in CORE]}
        if group == EVSSNAP and version == "v1alpha1" and self.args.evssnap_crd:
            return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{EVSSNAP}/v1alpha1", "resources": [
                {"name": "snapshotschedules", "singularName": "snapshotschedule", "namespaced": True,
                 "kind": "SnapshotSchedule", "shortNames": ["ssched"],
                 "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]},
                {"name": "snapshotschedules/status", "singularName": "", "namespaced": True,
                 "kind": "SnapshotSchedule", "verbs": ["get", "patch", "update"]}]}
        if group == "events.k8s.io" and version == "v1":
            return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "events.k8s.io/v1", "resources": [
                {"name": "events", "singularName": "event", "namespaced": True, "kind": "Event",
                 "verbs": ["create", "delete", "get", "list", "watch"], "shortNames": ["ev"]}]}
        return None

    # -- authz
    def check(self, user, groups, verb, res, ns, name):
        if user == "system:anonymous":
            denied = True
        else:
            denied = False
            for (v, r, u) in self.forbid:
                if v in ("*", verb) and r in ("*", res.plural):
                    if u is None and "system:masters" not in groups:
                        denied = True
                    elif u is not None and u == user:
                        denied = True
        if not denied:
            return
        subject = f'{res.qualified} "{name}"' if name else res.qualified
        scope = f' in the namespace "{ns}"' if ns else " at the cluster scope"
        msg = (f'{subject} is forbidden: User "{user}" cannot {verb} resource "{res.plural}" in API group '
               f'"{res.group}"{scope}')
        details = {}
        if name:
            details["name"] = name
        if res.group:
            details["group"] = res.group
        details["kind"] = res.plural
        raise ApiError(403, status(403, "Forbidden", msg, details))


def not_found(res, name):
    details = {"name": name}
    if res.group:
        details["group"] = res.group
    details["kind"] = res.plural
    return ApiError(404, status(404, "NotFound", f'{res.qualified} "{name}" not found', details))


def invalid(res, name, causes):
    """422 like the real server: message 'Kind[.group] "name" is invalid: <field>: <msg>' (several in [...])."""
    kind = res.kind if not res.group else f"{res.kind}.{res.group}"
    parts = [f"{c['field']}: {c['message']}" for c in causes]
    joined = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    details = {"name": name}
    if res.group:
        details["group"] = res.group
    details["kind"] = res.kind
    details["causes"] = causes
    return ApiError(422, status(422, "Invalid", f'{kind} "{name}" is invalid: {joined}', details))


def make_handler(fake):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "fake-apiserver"

        def log_message(self, fmt, *a):  # quiet: tests read stdout
            if fake.args.verbose:
                sys.stderr.write("fake-apiserver: " + (fmt % a) + "\n")

        # -- plumbing
        def send_json(self, code, obj, warnings=()):
            data = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            for w in warnings:
                self.send_header("Warning", '299 - "' + w.replace("\\", "\\\\").replace('"', '\\"') + '"')
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def send_plain(self, code, text):
            data = text.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def identify(self):
            auth = self.headers.get("Authorization")
            if auth:
                if not auth.startswith("Bearer "):
                    return None
                who = fake.tokens.get(auth[len("Bearer "):].strip())
                return who  # None -> 401
            cert = self.connection.getpeercert() if hasattr(self.connection, "getpeercert") else None
            if cert:
                cn, orgs = None, []
                for rdn in cert.get("subject", ()):
                    for k, v in rdn:
                        if k == "commonName":
                            cn = v
                        elif k == "organizationName":
                            orgs.append(v)
                if cn:
                    return (cn, orgs)
            return ("system:anonymous", ["system:unauthenticated"])

        def read_body(self):
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def handle_any(self, method):
            url = urlsplit(self.path)
            path, query = url.path, parse_qs(url.query, keep_blank_values=True)
            body = self.read_body() if method in ("POST", "PUT", "PATCH") else b""
            if path == "/__fake__/requests":
                with fake.req_lock:
                    if method == "DELETE":
                        fake.requests.clear()
                        return self.send_json(200, {"cleared": True})
                    return self.send_json(200, list(fake.requests))
            who = self.identify()
            with fake.req_lock:
                fake.requests.append({"method": method, "path": self.path, "user": who[0] if who else None,
                                      "userAgent": self.headers.get("User-Agent"),
                                      "contentType": self.headers.get("Content-Type"),
                                      "accept": self.headers.get("Accept")})
            try:
                if who is None:
                    raise ApiError(401, status(401, "Unauthorized", "Unauthorized"))
                for (prefix, secs) in fake.slow:
                    if path.startswith(prefix):
                        time.sleep(secs)
                for (m, prefix, code) in fake.fail:
                    if m in ("*", method) and path.startswith(prefix):
                        raise ApiError(code, status(code, "InternalError" if code >= 500 else "BadRequest",
                                                    f"injected failure {code}"))
                self.route(method, path, query, body, who)
            except ApiError as e:
                if e.plain is not None:
                    self.send_plain(e.code, e.plain)
                else:
                    self.send_json(e.code, e.body, e.warnings)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def do_GET(self):
            self.handle_any("GET")

        def do_POST(self):
            self.handle_any("POST")

        def do_DELETE(self):
            self.handle_any("DELETE")

        def do_PUT(self):
            self.handle_any("PUT")

        def do_PATCH(self):
            self.handle_any("PATCH")

        # -- routing
        def route(self, method, path, query, body, who):
            user, groups = who
            parts = [p for p in path.split("/") if p]
            if method == "GET" and path == "/version":
                return self.send_json(200, fake.version_doc())
            if user == "system:anonymous" and method == "GET" and path in ("/api", "/apis"):
                pass  # discovery is readable by anyone, as on a default cluster
            if method == "GET" and path == "/api":
                if "as=APIGroupDiscoveryList" in (self.headers.get("Accept") or ""):
                    return self.send_json(200, body_of("05-api-aggregated-discovery.json"))
                return self.send_json(200, body_of("02-api.json"))
            if method == "GET" and path == "/apis":
                return self.send_json(200, fake.apis_doc())
            if parts[:1] == ["api"]:
                group, rest = "", parts[1:]
            elif parts[:1] == ["apis"] and len(parts) >= 2:
                group, rest = parts[1], parts[2:]
                if not rest:
                    doc = fake.group_doc(group) if method == "GET" else None
                    if doc is None:
                        raise not_found_plain()
                    return self.send_json(200, doc)
            else:
                raise not_found_plain()
            if not rest:
                raise not_found_plain()
            version, rest = rest[0], rest[1:]
            if group and version not in fake.group_versions().get(group, []):
                raise not_found_plain()
            if not rest:
                doc = fake.resource_list_doc(group, version) if method == "GET" else None
                if doc is None:
                    raise not_found_plain()
                return self.send_json(200, doc)
            ns = None
            if rest[0] == "namespaces" and len(rest) >= 3:
                ns, rest = rest[1], rest[2:]
            plural, name = rest[0], (rest[1] if len(rest) > 1 else None)
            sub = rest[2] if len(rest) == 3 else None
            if len(rest) > 3 or (sub is not None and (sub != "status" or group != EVSSNAP)):
                raise not_found_plain()
            res = fake.find_res(group, version, plural)
            if res is None or (ns is not None and not res.namespaced):
                raise not_found_plain()
            if method == "GET" and name is None:
                verb = "watch" if query.get("watch", [""])[0] in ("1", "true") else "list"
                fake.check(user, groups, verb, res, ns, None)
                if verb == "watch":
                    return self.watch(res, ns, query)
                return self.list(res, ns, query)
            if method == "PATCH" and name is not None:
                fake.check(user, groups, "patch", res if sub is None else Res(res.group, res.version, res.plural + "/status", res.kind, res.namespaced), ns, name)
                return self.patch(res, ns, name, sub, body)
            if sub is not None:
                raise ApiError(405, status(405, "MethodNotAllowed", "the server does not allow this method on the requested resource"))
            if method == "GET":
                fake.check(user, groups, "get", res, ns, name)
                return self.get(res, ns, name)
            if method == "POST" and name is None:
                fake.check(user, groups, "create", res, ns, None)
                return self.create(res, ns, query, body)
            if method == "DELETE" and name is not None:
                fake.check(user, groups, "delete", res, ns, name)
                return self.delete(res, ns, name, query)
            raise ApiError(405, status(405, "MethodNotAllowed", "the server does not allow this method on the requested resource"))

        # -- verbs
        def get(self, res, ns, name):
            with fake.store.cond:
                obj = fake.store.bucket(res.group, res.plural).get((ns or "", name))
                if obj is None:
                    raise not_found(res, name)
                obj = copy.deepcopy(obj)
            if res.group == SNAP:
                obj["apiVersion"] = res.api_version
            self.send_json(200, obj)

        def selected(self, res, ns, query):
            fsel = query.get("fieldSelector", [""])[0]
            lsel = query.get("labelSelector", [""])[0]
            if fsel:
                bad = field_selector_ok(res, fsel)
                if bad:
                    raise ApiError(400, status(400, "BadRequest", f"field label not supported: {bad}"))
            items = []
            for key in sorted(fake.store.bucket(res.group, res.plural)):
                obj = fake.store.bucket(res.group, res.plural)[key]
                if ns is not None and key[0] != ns:
                    continue
                if fsel and not match_selector(obj, fsel, True):
                    continue
                if lsel and not match_selector(obj, lsel, False):
                    continue
                items.append((key, obj))
            return items

        def list(self, res, ns, query):
            with fake.store.cond:
                items = self.selected(res, ns, query)
                rv = fake.store.rv
                cont = query.get("continue", [""])[0]
                if cont:
                    start = parse_continue(cont)
                    if start is None:
                        raise ApiError(400, status(400, "BadRequest", "continue key is not valid: illegal base64 data"))
                    items = [(k, o) for (k, o) in items if k > start]
                limit = int(query.get("limit", ["0"])[0] or 0)
                meta = {"resourceVersion": str(rv)}
                if limit > 0 and len(items) > limit:
                    page = items[:limit]
                    meta["continue"] = make_continue(rv, page[-1][0])
                    meta["remainingItemCount"] = len(items) - limit
                else:
                    page = items
                    if res.group == SNAP:
                        meta["continue"] = ""  # CRD lists carry continue "" (fixture 35)
                out = []
                for _, o in page:
                    o = copy.deepcopy(o)
                    if res.group == SNAP:
                        o["apiVersion"] = res.api_version
                    out.append(o)
            self.send_json(200, {"apiVersion": res.api_version, "items": out, "kind": res.kind + "List", "metadata": meta})

        def watch(self, res, ns, query):
            rv_q = query.get("resourceVersion", [""])[0]
            timeout = float(query.get("timeoutSeconds", ["30"])[0] or 30)
            fsel = query.get("fieldSelector", [""])[0]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()

            def chunk(obj):
                data = (json.dumps(obj, separators=(",", ":")) + "\n").encode()
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            deadline = time.monotonic() + timeout
            with fake.store.cond:
                if rv_q and rv_q != "0" and int(rv_q) < fake.store.oldest_rv:
                    chunk({"type": "ERROR", "object": status(410, "Expired",
                                                             f"too old resource version: {rv_q} ({fake.store.oldest_rv})")})
                    self.wfile.write(b"0\r\n\r\n")
                    return
                if not rv_q or rv_q == "0":
                    for _, o in self.selected(res, ns, {"fieldSelector": [fsel]}):
                        chunk({"type": "ADDED", "object": o})
                    pos = len(fake.store.log)
                else:
                    pos = 0
                    while pos < len(fake.store.log) and fake.store.log[pos][0] <= int(rv_q):
                        pos += 1
                while True:
                    while pos < len(fake.store.log):
                        (erv, etype, g, p, ens, o) = fake.store.log[pos]
                        pos += 1
                        if g != res.group or p != res.plural or (ns is not None and ens != ns):
                            continue
                        if fsel and not match_selector(o, fsel, True):
                            continue
                        chunk({"type": etype, "object": o})
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    fake.store.cond.wait(left)
            self.wfile.write(b"0\r\n\r\n")

        def create(self, res, ns, query, body):
            try:
                obj = json.loads(body or b"{}")
            except ValueError as e:
                raise ApiError(400, status(400, "BadRequest", f"couldn't get version/kind; json parse error: {e}"))
            dry = query.get("dryRun", [""])[0] == "All"
            validation = query.get("fieldValidation", ["Warn"])[0]
            warnings = []
            md = obj.setdefault("metadata", {})
            name = md.get("name") or ""
            if not name and md.get("generateName"):
                name = md["generateName"] + uuid.uuid4().hex[:5]
                md["name"] = name
            if ns is not None:
                if md.get("namespace") and md["namespace"] != ns:
                    raise ApiError(400, status(400, "BadRequest",
                                               "the namespace of the provided object does not match the namespace sent on the request"))
                md["namespace"] = ns
            if not name:
                raise invalid(res, "", [{"reason": "FieldValueRequired", "message": "Required value: name or generateName is required",
                                         "field": "metadata.name"}])
            if not RFC1123_SUBDOMAIN.match(name) or len(name) > 253:
                msg = (f"Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                       "characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
                       "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
                raise invalid(res, name, [{"reason": "FieldValueInvalid", "message": msg, "field": "metadata.name"}])
            if res.plural == "volumesnapshots":
                spec = obj.get("spec") or {}
                unknown = [k for k in spec if k not in ("source", "volumeSnapshotClassName")]
                for k in unknown:
                    if validation == "Strict":
                        raise ApiError(400, status(400, "BadRequest",
                                                   f"{res.kind} in version \"{res.version}\" cannot be handled as a {res.kind}: "
                                                   f"strict decoding error: unknown field \"spec.{k}\""))
                    if validation != "Ignore":
                        warnings.append(f'unknown field "spec.{k}"')
                    spec.pop(k)
                src = spec.get("source")
                if src is None:
                    raise invalid(res, name, [
                        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.source"},
                        {"reason": "FieldValueInvalid", "message": "Invalid value: null: some validation rules were not checked "
                         "because the object was invalid; correct the existing errors to complete validation", "field": "<nil>"}])
                if bool(src.get("persistentVolumeClaimName")) == bool(src.get("volumeSnapshotContentName")):
                    raise invalid(res, name, [{"reason": "FieldValueInvalid", "message": "Invalid value: exactly one of "
                                               "volumeSnapshotContentName and persistentVolumeClaimName must be set",
                                               "field": "spec.source"}])
            if res.plural == "persistentvolumeclaims":
                spec = obj.setdefault("spec", {})
                storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
                if storage is not None:
                    n = quantity_bytes(str(storage))
                    if n is None:
                        raise ApiError(400, status(400, "BadRequest",
                                                   "PersistentVolumeClaim in version \"v1\" cannot be handled as a PersistentVolumeClaim: "
                                                   "quantities must match the regular expression "
                                                   "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"))
                    if n <= 0:
                        raise invalid(res, name, [{"reason": "FieldValueInvalid",
                                                   "message": f"Invalid value: \"{storage}\": must be greater than zero",
                                                   "field": "spec.resources[storage]"}])
                    if n != int(n):
                        milli = f"{int(round(n * 1000))}m"
                        spec["resources"]["requests"]["storage"] = milli
                        warnings.append(f'spec.resources.requests[storage]: fractional byte value "{milli}" is invalid, must be an integer')
                if "volume.beta.kubernetes.io/storage-class" in (md.get("annotations") or {}):
                    warnings.append('metadata.annotations[volume.beta.kubernetes.io/storage-class]: deprecated since v1.8; '
                                    'use "storageClassName" attribute instead')
                spec.setdefault("volumeMode", "Filesystem")
                obj["status"] = {"phase": "Pending"}
            with fake.store.cond:
                if (ns or "", name) in fake.store.bucket(res.group, res.plural):
                    details = {"name": name}
                    if res.group:
                        details["group"] = res.group
                    details["kind"] = res.plural
                    raise ApiError(409, status(409, "AlreadyExists", f'{res.qualified} "{name}" already exists', details),
                                   warnings)
                md["uid"] = str(uuid.uuid4())
                md["creationTimestamp"] = now_rfc3339()
                if res.group:
                    md["generation"] = 1
                manager = query.get("fieldManager", [None])[0] or (self.headers.get("User-Agent") or "unknown").split("/")[0]
                md["managedFields"] = [{"apiVersion": res.api_version, "fieldsType": "FieldsV1", "fieldsV1": {},
                                        "manager": manager, "operation": "Update", "time": md["creationTimestamp"]}]
                obj["apiVersion"] = res.api_version
                obj["kind"] = res.kind
                if dry:
                    md.pop("resourceVersion", None)
                    return self.send_json(201, obj, warnings)
                fake.store.put(res.group, res.plural, obj)
                out = copy.deepcopy(obj)
            self.send_json(201, out, warnings)
            if res.plural == "volumesnapshots":
                self.later(fake.args.snapshot_ready_delay, lambda: fake_snapshot_controller(fake, res, ns, name))
            if res.plural == "persistentvolumeclaims" and (obj.get("spec") or {}).get("dataSource"):
                self.later(fake.args.restore_bind_delay, lambda: fake_restore_provisioner(fake, ns, name))

        def later(self, delay, fn):
            if delay < 0:
                return
            t = threading.Timer(delay, fn)
            t.daemon = True
            t.start()

        def patch(self, res, ns, name, sub, body):
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            if ctype not in ("application/merge-patch+json", "application/json"):
                raise ApiError(415, status(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - accepted media types include: application/merge-patch+json"))
            try:
                patch = json.loads(body or b"{}")
            except ValueError as e:
                raise ApiError(400, status(400, "BadRequest", f"error decoding patch: {e}"))
            with fake.store.cond:
                obj = fake.store.bucket(res.group, res.plural).get((ns or "", name))
                if obj is None:
                    raise not_found(res, name)
                if sub == "status":
                    new = copy.deepcopy(obj)
                    if "status" in patch:
                        new["status"] = merge_patch(obj.get("status") or {}, patch["status"])
                else:
                    patch = {k: v for k, v in patch.items() if k != "status"} if res.group == EVSSNAP else patch
                    new = merge_patch(obj, patch)
                    if res.group and new.get("spec") != obj.get("spec"):
                        new["metadata"]["generation"] = int(obj["metadata"].get("generation", 1)) + 1
                new["metadata"]["name"], new["metadata"]["uid"] = obj["metadata"]["name"], obj["metadata"].get("uid")
                if new == obj:
                    return self.send_json(200, copy.deepcopy(obj))
                fake.store.put(res.group, res.plural, new, event="MODIFIED")
                out = copy.deepcopy(new)
            self.send_json(200, out)

        def delete(self, res, ns, name, query):
            dry = query.get("dryRun", [""])[0] == "All"
            with fake.store.cond:
                bucket = fake.store.bucket(res.group, res.plural)
                obj = bucket.get((ns or "", name))
                if obj is None:
                    raise not_found(res, name)
                out = copy.deepcopy(obj)
                out["metadata"]["deletionTimestamp"] = now_rfc3339()
                out["metadata"]["deletionGracePeriodSeconds"] = 0
                if dry:
                    return self.send_json(200, out)
                held = res.plural == "volumesnapshots" and snapshot_in_use(fake, ns, name)
                if held:
                    # Like fixture 58-59: the deletion is held while a restore PVC is Pending.
                    obj["metadata"]["deletionTimestamp"] = out["metadata"]["deletionTimestamp"]
                    obj["metadata"]["deletionGracePeriodSeconds"] = 0
                    fake.store.put(res.group, res.plural, obj, event="MODIFIED")
                    out = copy.deepcopy(obj)
                else:
                    fake.store.remove(res.group, res.plural, ns or "", name)
                    if res.plural == "volumesnapshots":
                        content = ((obj.get("status") or {}).get("boundVolumeSnapshotContentName"))
                        cobj = fake.store.bucket(SNAP, "volumesnapshotcontents").get(("", content or ""))
                        if cobj and (cobj.get("spec") or {}).get("deletionPolicy") == "Delete":
                            fake.store.remove(SNAP, "volumesnapshotcontents", "", content)
            if res.group == SNAP:
                out["apiVersion"] = res.api_version
            self.send_json(200, out)

    return Handler


def snapshot_in_use(fake, ns, name):
    for (pns, _), pvc in fake.store.bucket("", "persistentvolumeclaims").items():
        ds = (pvc.get("spec") or {}).get("dataSource") or {}
        if pns == ns and ds.get("kind") == "VolumeSnapshot" and ds.get("name") == name and \
                (pvc.get("status") or {}).get("phase") == "Pending":
            return True
    return False


def fake_snapshot_controller(fake, res, ns, name):
    """Plays snapshot-controller + csi-snapshotter: binds a content and marks the snapshot ready (or failed)."""
    with fake.store.cond:
        vs = fake.store.bucket(SNAP, "volumesnapshots").get((ns, name))
        if vs is None:
            return
        src = vs["spec"]["source"]
        pvc_name = src.get("persistentVolumeClaimName")
        pvc = fake.store.bucket("", "persistentvolumeclaims").get((ns, pvc_name or ""))
        content_name = "snapcontent-" + vs["metadata"]["uid"]
        vs["metadata"]["finalizers"] = ["snapshot.storage.kubernetes.io/volumesnapshot-as-source-protection",
                                        "snapshot.storage.kubernetes.io/volumesnapshot-bound-protection"]
        ts = now_rfc3339()
        pre = src.get("volumeSnapshotContentName")
        if pre:
            # Pre-provisioned content: bind to it when it exists.
            content = fake.store.bucket(SNAP, "volumesnapshotcontents").get(("", pre))
            if content is None:
                vs["status"] = {"readyToUse": False, "error": {"message": f"VolumeSnapshotContent {pre} not found", "time": ts}}
            else:
                cst = content.get("status") or {}
                vs["status"] = {"boundVolumeSnapshotContentName": pre, "creationTime": ts,
                                "readyToUse": bool(cst.get("readyToUse", True)),
                                "restoreSize": f"{int(cst.get('restoreSize') or 0)}"}
            fake.store.put(SNAP, "volumesnapshots", vs, event="MODIFIED")
            return
        if pvc is None or (pvc.get("status") or {}).get("phase") != "Bound":
            vs["status"] = {"boundVolumeSnapshotContentName": content_name, "readyToUse": False,
                            "error": {"message": f"Failed to create snapshot: PVC {pvc_name} is not Bound", "time": ts}}
            fake.store.put(SNAP, "volumesnapshots", vs, event="MODIFIED")
            return
        size = (pvc.get("status") or {}).get("capacity", {}).get("storage") or \
            pvc["spec"]["resources"]["requests"]["storage"]
        pv = fake.store.bucket("", "persistentvolumes").get(("", pvc["spec"].get("volumeName", "")))
        handle = (((pv or {}).get("spec") or {}).get("csi") or {}).get("volumeHandle", "unknown")
        cls = fake.store.bucket(SNAP, "volumesnapshotclasses").get(("", vs["spec"].get("volumeSnapshotClassName") or ""))
        content = {"apiVersion": res.api_version, "kind": "VolumeSnapshotContent",
                   "metadata": {"name": content_name, "uid": str(uuid.uuid4()), "creationTimestamp": ts, "generation": 1,
                                "finalizers": ["snapshot.storage.kubernetes.io/volumesnapshotcontent-bound-protection"]},
                   "spec": {"deletionPolicy": (cls or {}).get("deletionPolicy", "Delete"),
                            "driver": (cls or {}).get("driver", "disk.csi.everest.io"),
                            "source": {"volumeHandle": handle}, "sourceVolumeMode": "Filesystem",
                            "volumeSnapshotClassName": vs["spec"].get("volumeSnapshotClassName"),
                            "volumeSnapshotRef": {"apiVersion": res.api_version, "kind": "VolumeSnapshot", "name": name,
                                                  "namespace": ns, "uid": vs["metadata"]["uid"]}},
                   "status": {"creationTime": time.time_ns(), "readyToUse": True,
                              "restoreSize": int(quantity_bytes(size) or 0), "snapshotHandle": str(uuid.uuid4())}}
        fake.store.put(SNAP, "volumesnapshotcontents", content)
        vs["status"] = {"boundVolumeSnapshotContentName": content_name, "creationTime": ts, "readyToUse": True,
                        "restoreSize": size}
        fake.store.put(SNAP, "volumesnapshots", vs, event="MODIFIED")


def fake_restore_provisioner(fake, ns, name):
    """Plays external-provisioner for a PVC restored from a snapshot: Bound, or Pending with a Warning event
    when it asks less than the snapshot size (fixture 56)."""
    with fake.store.cond:
        pvc = fake.store.bucket("", "persistentvolumeclaims").get((ns, name))
        if pvc is None:
            return
        ds = pvc["spec"]["dataSource"]
        want = pvc["spec"]["resources"]["requests"]["storage"]
        vs = None
        for g_ver in fake.snapshot_versions[:1]:
            vs = fake.store.bucket(SNAP, "volumesnapshots").get((ns, ds.get("name")))
        snap_size = ((vs or {}).get("status") or {}).get("restoreSize")
        problem = None
        if vs is None:
            problem = f"error getting handle for DataSource Type VolumeSnapshot by Name {ds.get('name')}: error getting snapshot {ds.get('name')} from api server: volumesnapshots.snapshot.storage.k8s.io \"{ds.get('name')}\" not found"
        elif snap_size and (quantity_bytes(want) or 0) < (quantity_bytes(snap_size) or 0):
            problem = (f"requested volume size {int(quantity_bytes(want))} is less than the size "
                       f"{int(quantity_bytes(snap_size))} for the source snapshot {ds.get('name')}")
        if problem:
            ev_name = f"{name}.{uuid.uuid4().hex[:16]}"
            ts = now_rfc3339()
            fake.store.put("", "events", {"apiVersion": "v1", "kind": "Event",
                                          "metadata": {"name": ev_name, "namespace": ns, "uid": str(uuid.uuid4()),
                                                       "creationTimestamp": ts},
                                          "involvedObject": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                                             "name": name, "namespace": ns, "uid": pvc["metadata"]["uid"]},
                                          "reason": "ProvisioningFailed", "type": "Warning", "count": 1,
                                          "message": "failed to provision volume with StorageClass "
                                                     f"\"{pvc['spec'].get('storageClassName', '')}\": {problem}",
                                          "firstTimestamp": ts, "lastTimestamp": ts,
                                          "source": {"component": "disk.csi.everest.io_fake"},
                                          "reportingComponent": "disk.csi.everest.io_fake"})
            return
        pv_name = "pvc-" + pvc["metadata"]["uid"]
        pvc["spec"]["volumeName"] = pv_name
        pvc["status"] = {"phase": "Bound", "accessModes": pvc["spec"].get("accessModes", []),
                         "capacity": {"storage": want}}
        fake.store.put("", "persistentvolumeclaims", pvc, event="MODIFIED")
        fake.store.put("", "persistentvolumes", {
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": pv_name, "uid": str(uuid.uuid4()), "creationTimestamp": now_rfc3339()},
            "spec": {"capacity": {"storage": want}, "accessModes": pvc["spec"].get("accessModes", []),
                     "persistentVolumeReclaimPolicy": "Delete", "storageClassName": pvc["spec"].get("storageClassName"),
                     "volumeMode": "Filesystem",
                     "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "name": name, "namespace": ns,
                                  "uid": pvc["metadata"]["uid"]},
                     "csi": {"driver": "disk.csi.everest.io", "volumeHandle": str(uuid.uuid4()), "fsType": "ext4"}},
            "status": {"phase": "Bound"}})


# --- certificates ------------------------------------------------------------------------------------------------

def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


DEFAULT_SAN = "IP:127.0.0.1,IP:::1,DNS:localhost,DNS:kubernetes.default.svc"


def make_certs(d, san=DEFAULT_SAN):
    ext = os.path.join(d, "san.ext")
    with open(ext, "w") as f:
        f.write(f"subjectAltName={san}\nextendedKeyUsage=serverAuth\n")
    cext = os.path.join(d, "client.ext")
    with open(cext, "w") as f:
        f.write("extendedKeyUsage=clientAuth\n")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=fake-apiserver-ca", cwd=d)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=kube-apiserver", cwd=d)
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "san.ext", cwd=d)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "client.key", "-out", "client.csr",
            "-subj", "/O=system:masters/CN=admin", cwd=d)
    openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "client.pem", "-days", "2", "-extfile", "client.ext", cwd=d)


def write_kubeconfigs(d, url, token):
    common = f"""apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: {url}
    certificate-authority: ca.pem
contexts:
- name: fake
  context:
    cluster: fake
    user: admin
    namespace: apps
- name: fake-token
  context:
    cluster: fake
    user: admin-token
    namespace: apps
current-context: CURRENT
users:
- name: admin
  user:
    client-certificate: client.pem
    client-key: client.key
- name: admin-token
  user:
    token: {token}
"""
    with open(os.path.join(d, "kubeconfig"), "w") as f:
        f.write(common.replace("CURRENT", "fake"))
    with open(os.path.join(d, "kubeconfig-token"), "w") as f:
        f.write(common.replace("CURRENT", "fake-token"))


def main():
    ap = argparse.ArgumentParser(description="fake kube-apiserver for tests")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--dir")
    ap.add_argument("--version", default="v1.36.2")
    ap.add_argument("--snapshot-versions", default="v1")
    ap.add_argument("--no-seed", action="store_true")
    ap.add_argument("--token", action="append")
    ap.add_argument("--forbid", action="append")
    ap.add_argument("--fail", action="append")
    ap.add_argument("--snapshot-ready-delay", type=float, default=0.0)
    ap.add_argument("--restore-bind-delay", type=float, default=0.0)
    ap.add_argument("--slow", action="append")
    ap.add_argument("--san", default=DEFAULT_SAN)
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--evssnap-crd", action="store_true", help="serve evssnap.io/v1alpha1 snapshotschedules")
    args = ap.parse_args()
    d = args.dir or tempfile.mkdtemp(prefix="fake-apiserver-")

    def quit_now(*_):
        if not args.dir:  # remove the temp dir we made (certificates, keys, kubeconfigs)
            shutil.rmtree(d, ignore_errors=True)
        os._exit(0)
    # The parent may have left SIGTERM ignored or blocked (inherited across exec): make it end the server.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    signal.signal(signal.SIGTERM, quit_now)

    os.makedirs(d, exist_ok=True)
    make_certs(d, args.san)
    fake = Fake(args)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(fake))
    server.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(d, "server.pem"), os.path.join(d, "server.key"))
    ctx.load_verify_locations(os.path.join(d, "ca.pem"))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    # Handshake in the handler thread (first read), so a stalled client cannot block accept().
    server.socket = ctx.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    port = server.server_address[1]
    url = f"https://127.0.0.1:{port}"
    admin_token = next((t for t, (u, g) in fake.tokens.items() if "system:masters" in g), next(iter(fake.tokens)))
    write_kubeconfigs(d, url, admin_token)
    info = {"url": url, "port": port, "dir": d, "ca": os.path.join(d, "ca.pem"), "caKey": os.path.join(d, "ca.key"),
            "clientCert": os.path.join(d, "client.pem"), "clientKey": os.path.join(d, "client.key"),
            "token": admin_token, "kubeconfig": os.path.join(d, "kubeconfig"),
            "kubeconfigToken": os.path.join(d, "kubeconfig-token")}
    parent = os.getppid()

    def watchdog():
        while os.getppid() == parent:
            time.sleep(0.5)
        quit_now()
    threading.Thread(target=watchdog, daemon=True).start()
    sys.stdout.write(json.dumps(info) + "\n")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        quit_now()


if __name__ == "__main__":
    main()
