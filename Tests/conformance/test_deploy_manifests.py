"""Validation of the Kubernetes manifests under deploy/ (no cluster needed).

Every YAML document under deploy/ (the driver's manifests and deploy/examples/) is validated
against the Kubernetes OpenAPI schema of current Kubernetes versions with kubernetes-validate,
in strict mode (an unknown or misspelt field is an error). The snapshot kinds are CRDs, which
kubernetes-validate has no schema for; they are checked against a small JSON schema of their
required fields instead.

Then the project's own checks: the Everest names (provisioner == driver name, no
`csi.storage.k8s.io/csi-driver-name` parameter), images pinned to a tag, RBAC that refers only
to objects that exist and grants each sidecar what it needs, one socket path per pod, the
state directory shared by controller and node (single-node constraint), and the restore
example's shape (R10, with R12's units).

Run: .venv/bin/python -m pytest Tests/conformance/test_deploy_manifests.py
"""

from __future__ import annotations

import copy
import functools
import posixpath
import re
from fractions import Fraction
from pathlib import Path

import jsonschema
import kubernetes_validate
import kubernetes_validate.utils
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
EXAMPLES = DEPLOY / "examples"

DRIVER_NAME = "disk.csi.everest.io"
NAMESPACE = "evssnap"
DRIVER_IMAGE_NAME = "evs-csi-driver"
# 1.36: the version of the recorded cluster (shared/k8s-fixtures); 1.37: the newest schema
# kubernetes-validate 1.37.0 ships.
K8S_VERSIONS = ("1.36", "1.37")
RESERVED_DRIVER_NAME_PARAM = "csi.storage.k8s.io/csi-driver-name"
DISK_TYPE = "everest.io/disk-volume-type"
FSTYPE = "csi.storage.k8s.io/fstype"
REGION_LABEL = "failure-domain.beta.kubernetes.io/region"
ZONE_LABEL = "failure-domain.beta.kubernetes.io/zone"
SNAPSHOT_GROUP = "snapshot.storage.k8s.io"

# kubernetes-validate reads its (large) schema files from disk on every call; the files do not
# change during a run and the validator does not modify them, so read each once.
kubernetes_validate.utils.schema_contents = functools.lru_cache(maxsize=None)(
    kubernetes_validate.utils.schema_contents
)


# ---------------------------------------------------------------------------------------------
# Loading

class Doc:
    """One YAML document of a file under deploy/."""

    def __init__(self, path: Path, index: int, body: dict):
        self.path = path
        self.index = index
        self.body = body

    @property
    def kind(self) -> str:
        return self.body.get("kind", "")

    @property
    def name(self) -> str:
        return self.body.get("metadata", {}).get("name", "")

    @property
    def namespace(self) -> str | None:
        return self.body.get("metadata", {}).get("namespace")

    @property
    def is_example(self) -> bool:
        return EXAMPLES in self.path.parents

    def __repr__(self) -> str:
        return f"{self.path.relative_to(ROOT)}#{self.index} {self.kind}/{self.name}"


def _yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def _load_all() -> list[Doc]:
    docs = []
    for path in _yaml_files():
        with path.open() as f:
            for index, body in enumerate(yaml.safe_load_all(f)):
                if body is None:
                    continue
                docs.append(Doc(path, index, body))
    return docs


ALL_DOCS = _load_all()
KUSTOMIZATIONS = [d for d in ALL_DOCS if d.kind == "Kustomization"]
DOCS = [d for d in ALL_DOCS if d.kind != "Kustomization"]
# deploy/rbac-user.yaml is the plugin's users' RBAC (a Role applied per team namespace), not the driver's.
USER_RBAC = DEPLOY / "rbac-user.yaml"
DRIVER_DOCS = [d for d in DOCS if not d.is_example and d.path != USER_RBAC]
EXAMPLE_DOCS = [d for d in DOCS if d.is_example]


def _of_kind(kind: str, docs: list[Doc] = DOCS) -> list[Doc]:
    return [d for d in docs if d.kind == kind]


def _one(kind: str, name: str, docs: list[Doc] = DOCS) -> Doc:
    found = [d for d in docs if d.kind == kind and d.name == name]
    assert len(found) == 1, f"expected exactly one {kind}/{name}, found {found}"
    return found[0]


# ---------------------------------------------------------------------------------------------
# Schemas

_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_OBJECT_META = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "maxLength": 253},
        "namespace": {"type": "string"},
        "labels": _STRING_MAP,
        "annotations": _STRING_MAP,
    },
}
# The required fields of the two external-snapshotter CRD kinds the manifests use
# (snapshot.storage.k8s.io/v1, client/config/crd of external-snapshotter v8).
CRD_SCHEMAS = {
    ("snapshot.storage.k8s.io/v1", "VolumeSnapshotClass"): {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "driver", "deletionPolicy"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": "snapshot.storage.k8s.io/v1"},
            "kind": {"const": "VolumeSnapshotClass"},
            "metadata": _OBJECT_META,
            "driver": {"type": "string", "minLength": 1},
            "deletionPolicy": {"enum": ["Delete", "Retain"]},
            "parameters": _STRING_MAP,
        },
    },
    ("snapshot.storage.k8s.io/v1", "VolumeSnapshot"): {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": "snapshot.storage.k8s.io/v1"},
            "kind": {"const": "VolumeSnapshot"},
            "metadata": _OBJECT_META,
            "spec": {
                "type": "object",
                "required": ["source"],
                "additionalProperties": False,
                "properties": {
                    "volumeSnapshotClassName": {"type": "string"},
                    # Exactly one source (fixture 70: two sources are refused).
                    "source": {
                        "type": "object",
                        "minProperties": 1,
                        "maxProperties": 1,
                        "additionalProperties": False,
                        "properties": {
                            "persistentVolumeClaimName": {"type": "string", "minLength": 1},
                            "volumeSnapshotContentName": {"type": "string", "minLength": 1},
                        },
                    },
                },
            },
        },
    },
}


# evssnap's own CRD: its instances (deploy/examples) are checked against the openAPIV3Schema the CRD declares.
EVSSNAP_CRD = DEPLOY / "snapshotschedule-crd.yaml"
_crd = yaml.safe_load(EVSSNAP_CRD.read_text())
_crd_schema = copy.deepcopy(_crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
_crd_schema["properties"]["apiVersion"] = {"const": "evssnap.io/v1alpha1"}
_crd_schema["properties"]["kind"] = {"const": "SnapshotSchedule"}
_crd_schema["properties"]["metadata"] = _OBJECT_META
_crd_schema["additionalProperties"] = False
_crd_schema["properties"]["spec"]["additionalProperties"] = False
CRD_SCHEMAS[("evssnap.io/v1alpha1", "SnapshotSchedule")] = _crd_schema


def schema_errors(body: dict, version: str) -> list[str]:
    """Every schema error of one document: the Kubernetes OpenAPI schema of `version`
    (strict), or for the snapshot CRD kinds the small schema above."""
    key = (body.get("apiVersion"), body.get("kind"))
    if key in CRD_SCHEMAS:
        validator = jsonschema.Draft202012Validator(CRD_SCHEMAS[key])
        return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)]
    if body.get("apiVersion", "").startswith(SNAPSHOT_GROUP):
        return [f"no schema for CRD kind {key}: add it to CRD_SCHEMAS"]
    try:
        kubernetes_validate.validate(body, version, strict=True)
    except kubernetes_validate.ValidationError as e:
        return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"]
    except kubernetes_validate.SchemaNotFoundError as e:
        return [e.message]
    return []


# ---------------------------------------------------------------------------------------------
# Quantities (R12): exactly as Kubernetes reads them

_SUFFIXES = {
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 10**3),
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
}
_QUANTITY = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$")


def parse_quantity(value) -> tuple[Fraction, bool]:
    """(value in bytes, whether a unit or exponent was written). A bare `10` is 10 bytes."""
    m = _QUANTITY.match(str(value))
    if not m:
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    number, suffix = Fraction(m.group(1)), m.group(2)
    if suffix is None:
        return number, False
    if suffix[0] in "eE":
        return number * Fraction(10) ** int(suffix[1:]), True
    return number * _SUFFIXES[suffix], True


# ---------------------------------------------------------------------------------------------
# Pods, containers, flags

WORKLOAD_KINDS = ("Deployment", "DaemonSet", "StatefulSet", "Job", "Pod")


def pod_spec(doc: Doc) -> dict:
    if doc.kind == "Pod":
        return doc.body["spec"]
    return doc.body["spec"]["template"]["spec"]


def workloads(docs: list[Doc]) -> list[Doc]:
    return [d for d in docs if d.kind in WORKLOAD_KINDS]


def containers(spec: dict) -> list[dict]:
    return list(spec.get("initContainers", [])) + list(spec.get("containers", []))


def flags(container: dict) -> dict[str, str | None]:
    """--name=value and bare --name flags of a container's args."""
    out: dict[str, str | None] = {}
    for arg in list(container.get("command", [])) + list(container.get("args", [])):
        if isinstance(arg, str) and arg.startswith("--"):
            name, sep, value = arg[2:].partition("=")
            out[name] = value if sep else None
    return out


def driver_container(spec: dict) -> dict:
    found = [c for c in spec["containers"] if DRIVER_IMAGE_NAME in c["image"]]
    assert len(found) == 1, f"expected one {DRIVER_IMAGE_NAME} container, found {[c['name'] for c in found]}"
    return found[0]


def endpoint_path(endpoint: str) -> str:
    assert endpoint.startswith("unix://"), f"driver endpoint {endpoint!r} is not a unix socket"
    return endpoint[len("unix://"):]


def volume_at(container: dict, path: str) -> str | None:
    """Name of the volume mounted at the deepest mountPath that contains `path`."""
    best = None
    for m in container.get("volumeMounts", []):
        mp = m["mountPath"].rstrip("/") or "/"
        if path == mp or path.startswith(mp + "/"):
            if best is None or len(mp) > len(best[0]):
                best = (mp, m["name"])
    return best[1] if best else None


def volume(spec: dict, name: str) -> dict:
    found = [v for v in spec.get("volumes", []) if v["name"] == name]
    assert len(found) == 1, f"volume {name} defined {len(found)} times"
    return found[0]


def is_sidecar(container: dict) -> bool:
    return container["image"].startswith("registry.k8s.io/sig-storage/")


def controller() -> Doc:
    return _one("Deployment", "evs-csi-controller", DRIVER_DOCS)


def node() -> Doc:
    return _one("DaemonSet", "evs-csi-node", DRIVER_DOCS)


def sidecar(spec: dict, image_name: str) -> dict:
    found = [c for c in spec["containers"] if c["image"].split("/")[-1].split(":")[0] == image_name]
    assert len(found) == 1, f"expected one {image_name} container, found {len(found)}"
    return found[0]


# ---------------------------------------------------------------------------------------------
# RBAC

def rules_for_service_account(namespace: str, name: str, docs: list[Doc]) -> list[tuple[str | None, dict]]:
    """(namespace the rule applies in, None = cluster-wide; rule) for every rule bound to the SA."""
    out = []
    for binding in _of_kind("ClusterRoleBinding", docs) + _of_kind("RoleBinding", docs):
        subjects = binding.body.get("subjects", [])
        if not any(s.get("kind") == "ServiceAccount" and s.get("name") == name
                   and s.get("namespace", binding.namespace) == namespace for s in subjects):
            continue
        ref = binding.body["roleRef"]
        scope = None if binding.kind == "ClusterRoleBinding" else binding.namespace
        for role in _of_kind(ref["kind"], docs):
            if role.name == ref["name"] and (ref["kind"] == "ClusterRole" or role.namespace == binding.namespace):
                out += [(scope, r) for r in role.body.get("rules", [])]
    return out


def can(namespace: str, sa: str, verb: str, group: str, resource: str, in_namespace: str | None = None,
        docs: list[Doc] = DRIVER_DOCS) -> bool:
    for scope, rule in rules_for_service_account(namespace, sa, docs):
        if scope is not None and scope != in_namespace:
            continue
        if (group in rule.get("apiGroups", []) or "*" in rule.get("apiGroups", [])) \
                and (resource in rule.get("resources", []) or "*" in rule.get("resources", [])) \
                and (verb in rule.get("verbs", []) or "*" in rule.get("verbs", [])):
            return True
    return False


# ---------------------------------------------------------------------------------------------
# R10: the shape of a restore PVC

def storage_class_param(pvc: dict, key: str, classes: dict[str, dict]) -> str | None:
    """Everest's precedence: PVC annotation, then the StorageClass parameter."""
    annotations = pvc.get("metadata", {}).get("annotations", {}) or {}
    if key in annotations:
        return annotations[key]
    sc = classes.get(pvc.get("spec", {}).get("storageClassName", ""))
    return (sc or {}).get("parameters", {}).get(key)


def r10_violations(restore: dict, source: dict, snapshot: dict, classes: dict[str, dict]) -> list[str]:
    """Every way `restore` breaks R10 (with R8's equal type/size and R12's units) as a PVC restoring
    `snapshot` of the PVC `source`; `classes` are the StorageClasses by name."""
    problems = []
    rmeta, smeta = restore.get("metadata", {}), source.get("metadata", {})
    rspec, sspec = restore.get("spec", {}), source.get("spec", {})
    name = rmeta.get("name")

    sc_name = rspec.get("storageClassName")
    sc = classes.get(sc_name)
    if sc is None or sc.get("provisioner") != DRIVER_NAME:
        problems.append(f"R10: {name}: storageClassName {sc_name!r} is not a class of {DRIVER_NAME}")

    annotations = rmeta.get("annotations", {}) or {}
    source_type = storage_class_param(source, DISK_TYPE, classes)
    if annotations.get(DISK_TYPE) != source_type:
        problems.append(f"R10: {name}: annotation {DISK_TYPE} {annotations.get(DISK_TYPE)!r} "
                        f"differs from source disk type {source_type!r}")

    rlabels, slabels = rmeta.get("labels", {}) or {}, smeta.get("labels", {}) or {}
    for label in (REGION_LABEL, ZONE_LABEL):
        if rlabels.get(label) is None or rlabels.get(label) != slabels.get(label):
            problems.append(f"R10: {name}: label {label} {rlabels.get(label)!r} differs from source {slabels.get(label)!r}")

    if rspec.get("accessModes") != ["ReadWriteOnce"]:
        problems.append(f"R10: {name}: accessModes {rspec.get('accessModes')} is not [ReadWriteOnce]")

    rsize = rspec.get("resources", {}).get("requests", {}).get("storage")
    ssize = sspec.get("resources", {}).get("requests", {}).get("storage")
    try:
        rbytes, runit = parse_quantity(rsize)
        sbytes, _ = parse_quantity(ssize)
        if not runit:
            problems.append(f"R12: {name}: storage {rsize!r} has no unit, so it means {rsize} bytes; write e.g. 10Gi")
        if rbytes != sbytes:
            problems.append(f"R10: {name}: storage {rsize!r} differs from source capacity {ssize!r}")
    except ValueError as e:
        problems.append(f"R12: {name}: {e}")

    ds = rspec.get("dataSource") or {}
    if ds.get("kind") != "VolumeSnapshot" or ds.get("apiGroup") != SNAPSHOT_GROUP \
            or ds.get("name") != snapshot.get("metadata", {}).get("name"):
        problems.append(f"R10: {name}: dataSource {ds} is not VolumeSnapshot "
                        f"{snapshot.get('metadata', {}).get('name')} of {SNAPSHOT_GROUP}")
    if snapshot.get("spec", {}).get("source", {}).get("persistentVolumeClaimName") != smeta.get("name"):
        problems.append(f"R10: {name}: snapshot is not of source PVC {smeta.get('name')}")
    if len({rmeta.get("namespace"), smeta.get("namespace"), snapshot.get("metadata", {}).get("namespace")}) != 1:
        problems.append(f"R10: {name}: restore PVC, snapshot and source PVC are not in one namespace")

    if (storage_class_param(source, FSTYPE, classes) or "ext4") == "xfs" and annotations.get(FSTYPE) != "xfs":
        problems.append(f"R10: {name}: source is xfs, restore needs annotation {FSTYPE}: xfs")
    return problems


def storage_classes() -> dict[str, dict]:
    return {d.name: d.body for d in _of_kind("StorageClass", DRIVER_DOCS)}


def restore_examples() -> list[tuple[Doc, Doc, Doc]]:
    """(restore PVC, its VolumeSnapshot, the snapshot's source PVC) for each example restore."""
    out = []
    for pvc in _of_kind("PersistentVolumeClaim", EXAMPLE_DOCS):
        ds = pvc.body["spec"].get("dataSource")
        if not ds or ds.get("kind") != "VolumeSnapshot":
            continue
        snap = _one("VolumeSnapshot", ds["name"], EXAMPLE_DOCS)
        source = _one("PersistentVolumeClaim", snap.body["spec"]["source"]["persistentVolumeClaimName"], EXAMPLE_DOCS)
        out.append((pvc, snap, source))
    return out


# =============================================================================================
# Tests: schemas

def test_deploy_has_the_expected_documents():
    kinds = {d.kind for d in DRIVER_DOCS}
    for kind in ("Namespace", "CSIDriver", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role",
                 "RoleBinding", "Deployment", "DaemonSet", "StorageClass", "VolumeSnapshotClass",
                 "CustomResourceDefinition"):
        assert kind in kinds, f"deploy/ has no {kind}"
    assert {d.kind for d in EXAMPLE_DOCS} >= {"PersistentVolumeClaim", "VolumeSnapshot", "Pod"}
    for doc in ALL_DOCS:
        assert isinstance(doc.body, dict) and doc.body.get("apiVersion") and doc.kind, f"{doc}: not an object"


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("doc", [d for d in DOCS if (d.body.get("apiVersion"), d.kind) not in CRD_SCHEMAS], ids=repr)
def test_document_matches_kubernetes_openapi_schema(doc, version):
    errors = schema_errors(doc.body, version)
    assert not errors, f"{doc} against Kubernetes {version}:\n" + "\n".join(errors)


@pytest.mark.parametrize("doc", [d for d in DOCS if (d.body.get("apiVersion"), d.kind) in CRD_SCHEMAS], ids=repr)
def test_snapshot_crd_document_matches_its_schema(doc):
    errors = schema_errors(doc.body, K8S_VERSIONS[-1])
    assert not errors, f"{doc}:\n" + "\n".join(errors)


def test_schema_check_catches_broken_documents():
    """The validation above can fail: a misspelt field, a wrong type and a missing CRD field."""
    deployment = copy.deepcopy(controller().body)
    deployment["spec"]["replica"] = 1
    assert any("replica" in e for e in schema_errors(deployment, K8S_VERSIONS[-1]))
    deployment = copy.deepcopy(controller().body)
    deployment["spec"]["template"]["spec"]["containers"][0]["args"] = "--mode=controller"
    assert schema_errors(deployment, K8S_VERSIONS[-1])
    vsc = copy.deepcopy(_one("VolumeSnapshotClass", "csi-disk-snapclass").body)
    del vsc["deletionPolicy"]
    assert any("deletionPolicy" in e for e in schema_errors(vsc, K8S_VERSIONS[-1]))
    snap = {"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot", "metadata": {"name": "s"},
            "spec": {"source": {"persistentVolumeClaimName": "a", "volumeSnapshotContentName": "b"}}}
    assert schema_errors(snap, K8S_VERSIONS[-1])


def test_kustomization_lists_every_manifest_and_only_existing_ones():
    assert len(KUSTOMIZATIONS) == 1 and KUSTOMIZATIONS[0].path == DEPLOY / "kustomization.yaml"
    listed = KUSTOMIZATIONS[0].body["resources"]
    assert len(listed) == len(set(listed)), "a resource is listed twice"
    for entry in listed:
        assert (DEPLOY / entry).is_file(), f"kustomization lists missing {entry}"
    # rbac-user.yaml is for the plugin's users, applied per team namespace by an administrator (not the driver).
    on_disk = {p.name for p in DEPLOY.glob("*.yaml")} - {"kustomization.yaml", "rbac-user.yaml"}
    assert set(listed) == on_disk


# =============================================================================================
# Tests: Everest names

def test_csidriver_is_everest_disk_driver():
    spec = _one("CSIDriver", DRIVER_NAME, DRIVER_DOCS).body["spec"]
    assert spec["attachRequired"] is True
    assert spec["podInfoOnMount"] is True
    assert spec["volumeLifecycleModes"] == ["Persistent"]


@pytest.mark.parametrize("doc", _of_kind("StorageClass"), ids=repr)
def test_storageclass_provisioner_is_the_driver_name(doc):
    assert doc.body["provisioner"] == DRIVER_NAME


@pytest.mark.parametrize("doc", _of_kind("StorageClass"), ids=repr)
def test_storageclass_has_no_csi_driver_name_parameter(doc):
    # external-provisioner refuses unknown csi.storage.k8s.io/ keys: PVCs would stay Pending
    # (shared/k8s-fixtures/29-pvc-pending-events.json).
    assert RESERVED_DRIVER_NAME_PARAM not in (doc.body.get("parameters") or {})
    known = {"fstype", "provisioner-secret-name", "provisioner-secret-namespace", "controller-publish-secret-name",
             "controller-publish-secret-namespace", "node-stage-secret-name", "node-stage-secret-namespace",
             "node-publish-secret-name", "node-publish-secret-namespace", "controller-expand-secret-name",
             "controller-expand-secret-namespace", "node-expand-secret-name", "node-expand-secret-namespace"}
    for key in doc.body.get("parameters") or {}:
        if key.startswith("csi.storage.k8s.io/"):
            assert key.split("/", 1)[1] in known, f"{key} is an unknown reserved parameter"


@pytest.mark.parametrize("name,binding", [("csi-disk", "Immediate"), ("csi-disk-topology", "WaitForFirstConsumer")])
def test_everest_storageclasses(name, binding):
    sc = _one("StorageClass", name, DRIVER_DOCS).body
    assert sc["volumeBindingMode"] == binding
    assert sc["parameters"][DISK_TYPE] == "SAS"
    assert sc["parameters"][FSTYPE] == "ext4"
    assert sc["allowVolumeExpansion"] is True


def test_volumesnapshotclass_is_everest_snapclass():
    vsc = _one("VolumeSnapshotClass", "csi-disk-snapclass", DRIVER_DOCS).body
    assert vsc["driver"] == DRIVER_NAME
    assert vsc["deletionPolicy"] == "Delete"


def test_every_driver_container_uses_the_csidriver_name():
    for doc in (controller(), node()):
        assert flags(driver_container(pod_spec(doc))).get("driver-name", DRIVER_NAME) == DRIVER_NAME, f"{doc}"


# =============================================================================================
# Tests: images

@pytest.mark.parametrize("doc", workloads(DOCS), ids=repr)
def test_every_image_is_pinned_to_a_tag(doc):
    for c in containers(pod_spec(doc)):
        image = c["image"]
        if "@sha256:" in image:
            continue
        last = image.rsplit("/", 1)[-1]
        assert ":" in last, f"{doc}: {c['name']} image {image} has no tag"
        tag = last.split(":", 1)[1]
        assert tag and tag != "latest", f"{doc}: {c['name']} image {image} is not pinned"
        if "/sig-storage/" in image:
            assert image.startswith("registry.k8s.io/sig-storage/"), image
            assert re.fullmatch(r"v\d+\.\d+\.\d+", tag), f"{image}: sidecars are pinned to a release tag"


# =============================================================================================
# Tests: RBAC

def test_every_referenced_service_account_exists():
    accounts = {(d.namespace, d.name) for d in _of_kind("ServiceAccount", DRIVER_DOCS)}
    for doc in workloads(DRIVER_DOCS):
        sa = pod_spec(doc).get("serviceAccountName")
        assert sa, f"{doc} runs under the namespace's default ServiceAccount"
        assert (doc.namespace, sa) in accounts, f"{doc}: ServiceAccount {doc.namespace}/{sa} does not exist"
    for binding in _of_kind("ClusterRoleBinding", DRIVER_DOCS) + _of_kind("RoleBinding", DRIVER_DOCS):
        for s in binding.body["subjects"]:
            if s["kind"] == "ServiceAccount":
                ns = s.get("namespace", binding.namespace)
                assert (ns, s["name"]) in accounts, f"{binding}: ServiceAccount {ns}/{s['name']} does not exist"


def test_every_role_reference_exists():
    for binding in _of_kind("ClusterRoleBinding", DRIVER_DOCS) + _of_kind("RoleBinding", DRIVER_DOCS):
        ref = binding.body["roleRef"]
        assert ref["apiGroup"] == "rbac.authorization.k8s.io"
        if binding.kind == "ClusterRoleBinding":
            assert ref["kind"] == "ClusterRole", f"{binding}"
        matches = [r for r in _of_kind(ref["kind"], DRIVER_DOCS)
                   if r.name == ref["name"] and (ref["kind"] == "ClusterRole" or r.namespace == binding.namespace)]
        assert matches, f"{binding}: {ref['kind']} {ref['name']} does not exist"


def test_namespaced_objects_are_in_the_driver_namespace():
    _one("Namespace", NAMESPACE, DRIVER_DOCS)
    for doc in DRIVER_DOCS:
        if doc.kind in ("ServiceAccount", "Role", "RoleBinding", "Deployment", "DaemonSet"):
            assert doc.namespace == NAMESPACE, f"{doc}"
        if doc.kind in ("Namespace", "CSIDriver", "ClusterRole", "ClusterRoleBinding", "StorageClass",
                        "VolumeSnapshotClass", "CustomResourceDefinition"):
            assert doc.namespace is None, f"{doc} is cluster-scoped"


@pytest.mark.parametrize("who,verb,group,resource", [
    ("driver: PVC annotations", "get", "", "persistentvolumeclaims"),
    ("external-provisioner", "create", "", "persistentvolumes"),
    ("external-provisioner", "update", SNAPSHOT_GROUP, "volumesnapshots"),
    ("external-provisioner", "get", SNAPSHOT_GROUP, "volumesnapshotcontents"),
    ("external-provisioner", "list", "storage.k8s.io", "csinodes"),
    ("external-attacher", "patch", "storage.k8s.io", "volumeattachments/status"),
    ("csi-snapshotter", "update", SNAPSHOT_GROUP, "volumesnapshotcontents/status"),
    ("csi-snapshotter", "list", SNAPSHOT_GROUP, "volumesnapshotclasses"),
    ("external-resizer", "patch", "", "persistentvolumeclaims/status"),
    ("events", "create", "", "events"),
])
def test_controller_service_account_may(who, verb, group, resource):
    sa = pod_spec(controller())["serviceAccountName"]
    assert can(NAMESPACE, sa, verb, group, resource), f"{who}: {sa} may not {verb} {resource}"


def test_controller_may_hold_leader_election_leases_in_its_namespace():
    sa = pod_spec(controller())["serviceAccountName"]
    assert can(NAMESPACE, sa, "create", "coordination.k8s.io", "leases", in_namespace=NAMESPACE)
    assert not can(NAMESPACE, sa, "create", "coordination.k8s.io", "leases", in_namespace="default")


def test_driver_reads_pvcs_but_does_not_write_them():
    sa = pod_spec(controller())["serviceAccountName"]
    assert not can(NAMESPACE, sa, "delete", "", "persistentvolumeclaims")
    assert not can(NAMESPACE, sa, "get", "", "secrets")


# =============================================================================================
# Tests: sockets, sidecars, the node plugin, the shared state directory

def runs_the_driver(doc: Doc) -> bool:
    return any(DRIVER_IMAGE_NAME in c["image"] for c in pod_spec(doc)["containers"])


@pytest.mark.parametrize("doc", [d for d in workloads(DRIVER_DOCS) if d.kind in ("Deployment", "DaemonSet")
                                 and runs_the_driver(d)], ids=repr)
def test_sidecars_use_the_driver_socket(doc):
    spec = pod_spec(doc)
    driver = driver_container(spec)
    socket = endpoint_path(flags(driver)["endpoint"])
    socket_dir = posixpath.dirname(socket)
    driver_volume = volume_at(driver, socket)
    assert driver_volume, f"{doc}: the driver's socket {socket} is not on a volume"
    sidecars = [c for c in spec["containers"] if is_sidecar(c)]
    assert sidecars
    for c in sidecars:
        address = flags(c).get("csi-address")
        assert address == socket, f"{doc}: {c['name']} --csi-address {address} is not the driver's {socket}"
        assert volume_at(c, address) == driver_volume, f"{doc}: {c['name']} does not mount {socket_dir} from {driver_volume}"


def test_controller_runs_driver_and_all_controller_sidecars():
    spec = pod_spec(controller())
    assert controller().body["spec"]["replicas"] == 1
    assert flags(driver_container(spec))["mode"] == "controller"
    provisioner = flags(sidecar(spec, "csi-provisioner"))
    assert "extra-create-metadata" in provisioner
    assert provisioner.get("feature-gates") == "Topology=true"
    for image in ("csi-attacher", "csi-snapshotter", "csi-resizer", "livenessprobe"):
        sidecar(spec, image)


def test_livenessprobe_port_is_the_driver_health_port():
    for doc in (controller(), node()):
        spec = pod_spec(doc)
        port = int(flags(sidecar(spec, "livenessprobe"))["health-port"])
        driver = driver_container(spec)
        ports = {p["name"]: p["containerPort"] for p in driver.get("ports", [])}
        probe_port = driver["livenessProbe"]["httpGet"]["port"]
        assert ports.get(probe_port, probe_port) == port, f"{doc}"


def test_node_plugin_is_privileged_and_propagates_kubelet_mounts():
    spec = pod_spec(node())
    driver = driver_container(spec)
    assert flags(driver)["mode"] == "node"
    assert driver["securityContext"]["privileged"] is True
    # growing a mounted ext4 needs CAP_SYS_RESOURCE, a mounted xfs CAP_SYS_ADMIN (docs/node.md)
    assert {"SYS_ADMIN", "SYS_RESOURCE"} <= set(driver["securityContext"]["capabilities"]["add"])
    mounts = {m["mountPath"]: m for m in driver["volumeMounts"]}
    for kubelet_dir in ("/var/lib/kubelet/pods", "/var/lib/kubelet/plugins"):
        assert mounts[kubelet_dir].get("mountPropagation") == "Bidirectional", kubelet_dir
        assert volume(spec, mounts[kubelet_dir]["name"])["hostPath"]["path"] == kubelet_dir
    assert volume(spec, mounts["/dev"]["name"])["hostPath"]["path"] == "/dev"
    env = {e["name"]: e for e in driver.get("env", [])}
    node_id = flags(driver)["node-id"]
    var = re.fullmatch(r"\$\((\w+)\)", node_id)
    assert var and env[var.group(1)]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"


def test_registrar_registers_the_socket_kubelet_can_reach():
    spec = pod_spec(node())
    registrar = sidecar(spec, "csi-node-driver-registrar")
    socket = endpoint_path(flags(driver_container(spec))["endpoint"])
    host_dir = volume(spec, volume_at(registrar, socket))["hostPath"]["path"]
    assert flags(registrar)["kubelet-registration-path"] == posixpath.join(host_dir, posixpath.basename(socket))
    assert host_dir == f"/var/lib/kubelet/plugins/{DRIVER_NAME}"
    assert volume(spec, volume_at(registrar, "/registration/x"))["hostPath"]["path"] == "/var/lib/kubelet/plugins_registry"


def test_controller_and_node_share_one_state_directory():
    """Single-node constraint: the emulator's disks and metadata are one hostPath both see."""
    host_paths = set()
    for doc in (controller(), node()):
        spec = pod_spec(doc)
        driver = driver_container(spec)
        state_dir = flags(driver)["state-dir"]
        vol = volume(spec, volume_at(driver, state_dir))
        assert "hostPath" in vol, f"{doc}: --state-dir {state_dir} is not on a hostPath"
        host_paths.add(vol["hostPath"]["path"])
        assert flags(driver)["zone"] == "cn-north-4/cn-north-4a"
    assert len(host_paths) == 1, f"controller and node use different state directories: {host_paths}"


# =============================================================================================
# Tests: the examples (the CCE page's flow)

def test_there_is_a_restore_example():
    assert restore_examples()


@pytest.mark.parametrize("restore,snapshot,source", restore_examples(), ids=lambda d: d.name)
def test_restore_example_obeys_r10(restore, snapshot, source):
    problems = r10_violations(restore.body, source.body, snapshot.body, storage_classes())
    assert not problems, "\n".join(problems)
    assert snapshot.body["spec"]["volumeSnapshotClassName"] == "csi-disk-snapclass"


def test_r10_check_refuses_the_seed_pages_restore_pvc():
    """The CCE page's own YAML: storage '10' (10 bytes) and zone cn-north-4b for a cn-north-4a disk."""
    _, snapshot, source = restore_examples()[0]
    seed = yaml.safe_load("""
        apiVersion: v1
        kind: PersistentVolumeClaim
        metadata:
          name: pvc-test
          namespace: default
          annotations:
            everest.io/disk-volume-type: SSD
          labels:
            failure-domain.beta.kubernetes.io/region: cn-north-4
            failure-domain.beta.kubernetes.io/zone: cn-north-4b
        spec:
          accessModes:
          - ReadWriteOnce
          resources:
            requests:
              storage: '10'
          storageClassName: csi-disk
          dataSource:
            name: cce-disksnap-test
            kind: VolumeSnapshot
            apiGroup: snapshot.storage.k8s.io
    """)
    problems = "\n".join(r10_violations(seed, source.body, snapshot.body, storage_classes()))
    assert "no unit" in problems
    assert "storage '10' differs" in problems
    assert ZONE_LABEL in problems
    assert "dataSource" in problems
    fixed = copy.deepcopy(seed)
    fixed["metadata"]["labels"][ZONE_LABEL] = "cn-north-4a"
    fixed["spec"]["resources"]["requests"]["storage"] = "10Gi"
    fixed["spec"]["dataSource"]["name"] = snapshot.name
    assert r10_violations(fixed, source.body, snapshot.body, storage_classes()) == []
    fixed["metadata"]["annotations"][DISK_TYPE] = "SAS"
    assert any(DISK_TYPE in p for p in r10_violations(fixed, source.body, snapshot.body, storage_classes()))


@pytest.mark.parametrize("doc", _of_kind("PersistentVolumeClaim", EXAMPLE_DOCS), ids=repr)
def test_example_pvc_sizes_have_units(doc):
    _, has_unit = parse_quantity(doc.body["spec"]["resources"]["requests"]["storage"])
    assert has_unit, f"{doc}: a quantity without a unit is a number of bytes (R12)"


@pytest.mark.parametrize("text,size,unit", [
    ("10Gi", 10 * 2**30, True), ("10G", 10 * 10**9, True), ("10737418240", 10 * 2**30, False),
    ("1.5Gi", 3 * 2**29, True), ("10", 10, False), (10, 10, False), ("1e3", 1000, True), ("500m", Fraction(1, 2), True),
])
def test_parse_quantity_reads_like_kubernetes(text, size, unit):
    assert parse_quantity(text) == (size, unit)


@pytest.mark.parametrize("text", ["10 Gi", "Gi", "10GiB", "ten", ""])
def test_parse_quantity_refuses_malformed(text):
    with pytest.raises(ValueError):
        parse_quantity(text)


def test_example_pods_mount_existing_claims():
    claims = {(d.namespace, d.name) for d in _of_kind("PersistentVolumeClaim", EXAMPLE_DOCS)}
    pods = _of_kind("Pod", EXAMPLE_DOCS)
    assert pods
    for pod in pods:
        for v in pod.body["spec"].get("volumes", []):
            if "persistentVolumeClaim" in v:
                assert (pod.namespace, v["persistentVolumeClaim"]["claimName"]) in claims, f"{pod}"
    for snap in _of_kind("VolumeSnapshot", EXAMPLE_DOCS):
        assert (snap.namespace, snap.body["spec"]["source"]["persistentVolumeClaimName"]) in claims
        _one("VolumeSnapshotClass", snap.body["spec"]["volumeSnapshotClassName"], DRIVER_DOCS)


# =============================================================================================
# Tests: snapshot schedules (the CRD, evssnap-scheduler and its least-privilege RBAC)

def scheduler() -> Doc:
    return _one("Deployment", "evssnap-scheduler", DRIVER_DOCS)


def test_snapshotschedule_crd_is_namespaced_with_status_and_printer_columns():
    crd = _one("CustomResourceDefinition", "snapshotschedules.evssnap.io", DRIVER_DOCS).body["spec"]
    assert crd["group"] == "evssnap.io" and crd["scope"] == "Namespaced"
    assert crd["names"]["plural"] == "snapshotschedules" and crd["names"]["kind"] == "SnapshotSchedule"
    (version,) = crd["versions"]
    assert version["name"] == "v1alpha1" and version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns["Schedule"] == ".spec.schedule"
    assert columns["Keep"] == ".spec.retention.maxCount"
    assert columns["Next Snapshot"] == ".status.nextSnapshotTime"
    assert columns["Last Result"] == ".status.lastResult"
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    assert {"observedGeneration", "conditions", "lastSnapshotTime", "nextSnapshotTime", "claims"} <= set(status)


def test_snapshotschedule_schema_refuses_broken_schedules():
    good = _one("SnapshotSchedule", "nightly", EXAMPLE_DOCS).body
    assert not schema_errors(good, K8S_VERSIONS[-1])
    assert good["spec"]["retention"]["maxCount"] <= 7, "R5: the example keeps at most 7"
    for broken in ({"retention": {"maxCount": 0}}, {"retention": {}}, {"schedule": 5},
                   {"retention": {"maxCount": 3, "maxAge": "a week"}}, {"sechdule": "@daily"}):
        doc = copy.deepcopy(good)
        doc["spec"].update(broken)
        assert schema_errors(doc, K8S_VERSIONS[-1]), broken


@pytest.mark.parametrize("verb,group,resource,allowed", [
    ("list", "evssnap.io", "snapshotschedules", True),
    ("watch", "evssnap.io", "snapshotschedules", True),
    ("patch", "evssnap.io", "snapshotschedules/status", True),
    ("create", "evssnap.io", "snapshotschedules", False),
    ("delete", "evssnap.io", "snapshotschedules", False),
    ("update", "evssnap.io", "snapshotschedules", False),
    ("create", SNAPSHOT_GROUP, "volumesnapshots", True),
    ("delete", SNAPSHOT_GROUP, "volumesnapshots", True),
    ("update", SNAPSHOT_GROUP, "volumesnapshots", False),
    ("delete", SNAPSHOT_GROUP, "volumesnapshotcontents", False),
    ("get", "", "persistentvolumeclaims", True),
    ("update", "", "persistentvolumeclaims", False),
    ("delete", "", "persistentvolumeclaims", False),
    ("get", "", "persistentvolumes", True),
    ("delete", "", "persistentvolumes", False),
    ("create", "", "events", True),
    ("get", "", "secrets", False),
    ("get", "storage.k8s.io", "csidrivers", True),
    ("patch", "storage.k8s.io", "csidrivers", False),
])
def test_scheduler_has_least_privilege(verb, group, resource, allowed):
    spec = pod_spec(scheduler())
    sa = spec["serviceAccountName"]
    assert sa != pod_spec(controller())["serviceAccountName"], "the scheduler has a ServiceAccount of its own"
    assert can(NAMESPACE, sa, verb, group, resource) == allowed, f"{sa} {verb} {group}/{resource}"


def test_scheduler_reads_csidriver_of_the_driver_only_and_zoneinfo_read_only():
    sa = pod_spec(scheduler())["serviceAccountName"]
    for _, rule in rules_for_service_account(NAMESPACE, sa, DRIVER_DOCS):
        if "csidrivers" in rule.get("resources", []):
            assert rule.get("resourceNames") == [DRIVER_NAME]
        assert "*" not in rule.get("verbs", []) and "*" not in rule.get("resources", [])
    (container,) = pod_spec(scheduler())["containers"]
    assert flags(container)["driver-name"] == DRIVER_NAME
    zoneinfo = flags(container)["zoneinfo"]
    mount = [m for m in container["volumeMounts"] if m["mountPath"] == zoneinfo]
    assert mount and mount[0].get("readOnly") is True
    assert volume(pod_spec(scheduler()), mount[0]["name"])["hostPath"]["path"] == "/usr/share/zoneinfo"
