import EVSSnapCLI
import Foundation
import Testing
import struct KubeClient.ResourceType

/// Issue 14: a user with the namespaced Role only (deploy/rbac-user.yaml's evssnap-user). Every cluster-scoped
/// read is Forbidden; the rules fall back to namespace-scoped facts or are reported unverified, and no command
/// is refused for it. (The real API server runs the same flows in Tests/cluster/test_plugin_rbac.py.)
@Suite("least privilege")
struct LeastPrivilegeTests {
    static let clusterScoped = ["csidrivers", "volumesnapshotclasses", "persistentvolumes", "storageclasses", "volumesnapshotcontents"]

    static func forbidden(_ plural: String) -> APIError {
        APIError(code: 403, reason: "Forbidden", message: "\(plural) is forbidden: User \"alice\" cannot list resource \"\(plural)\" at the cluster scope")
    }

    /// The standard world with the provisioner annotation the PV controller writes, as alice sees it.
    static func namespacedOnly(_ setup: (InMemoryCluster) -> Void = { _ in }) -> InMemoryCluster {
        let c = World.standard()
        var pvc = c.object(.persistentVolumeClaims, namespace: "apps", name: "data-ssd")!
        pvc["metadata"]["annotations"]["volume.kubernetes.io/storage-provisioner"] = "disk.csi.everest.io"
        c.put(.persistentVolumeClaims, pvc)
        setup(c)
        for p in clusterScoped { c.fail(p, with: forbidden(p)) }
        return c
    }

    @Test("check: R2 unverified naming the permissions, R3 from the PVC annotation, R5 from the namespace; exit 0")
    func check() async {
        let r = await evssnap(["check", "data-ssd"], cluster: Self.namespacedOnly())
        #expect(r.code == 0, "\(r.out)\(r.err)")
        #expect(r.out == """
            [ok]         R1 cluster version v1.36.2 ≥ 1.15
            [unverified] R2 not verified: cannot get csidrivers at the cluster scope; cannot get volumesnapshotclasses at the cluster scope
            [ok]         R3 PVC apps/data-ssd was provisioned by disk.csi.everest.io (its annotation volume.kubernetes.io/storage-provisioner; cannot get persistentvolumes at the cluster scope)
            [ok]         R4 disk pvc-data-ssd is available or in-use
            [ok]         R5 disk pvc-data-ssd has 1 of 7 snapshots, counted from the VolumeSnapshots of PVC apps/data-ssd (cannot get persistentvolumes at the cluster scope)

            """)
        #expect(r.err.contains("1 of 5 checks not verified (R2): the read-only ClusterRole evssnap-reader in deploy/rbac-user.yaml verifies them"))
    }

    @Test("create goes on with a warning per unverified rule and creates the snapshot")
    func create() async {
        let c = Self.namespacedOnly()
        let r = await evssnap(["create", "data-ssd", "--name", "s2"], cluster: c)
        #expect(r.code == 0, "\(r.err)")
        #expect(r.err == "warning: R2 not verified: cannot get csidrivers at the cluster scope; cannot get volumesnapshotclasses at the cluster scope\n")
        #expect(r.out == "volumesnapshot.snapshot.storage.k8s.io/s2 created\n")
        #expect(c.object(World.vs, namespace: "apps", name: "s2") != nil)
    }

    @Test("R5 still refuses from the namespace's snapshots when contents are not readable")
    func quotaFromNamespace() async {
        let c = Self.namespacedOnly { c in
            for i in 2...7 { World.addSnapshot(c, "snap-\(i)", pvc: "data-ssd", disk: "d-ssd") }
        }
        let r = await evssnap(["create", "data-ssd", "--name", "s8"], cluster: c)
        #expect(r.code == 2)
        #expect(r.err.contains("error: R5: disk already has 7 snapshots, the limit is 7"))
        #expect(c.writes.isEmpty)
    }

    @Test("R3 refuses a FlexVolume class by name, and a PVC another provisioner made, without the PV")
    func r3Fallbacks() async {
        let flex = await evssnap(["check", "old-flex"], cluster: Self.namespacedOnly())
        #expect(flex.code == 2)
        #expect(flex.out.contains("[FAIL]       R3: PVC apps/old-flex uses FlexVolume class sas"))
        let c = Self.namespacedOnly { c in
            c.put(.persistentVolumeClaims, World.pvc("shared-fs", volume: "pv-nas",
                                                     annotations: ["volume.kubernetes.io/storage-provisioner": "nas.csi.everest.io"]))
        }
        let nas = await evssnap(["create", "shared-fs"], cluster: c)
        #expect(nas.code == 2)
        #expect(nas.err.contains("R3: PVC apps/shared-fs uses CSI driver nas.csi.everest.io, not disk.csi.everest.io"))
        // No annotation at all (a statically bound PV): unverified, and the command goes on.
        let s = await evssnap(["check", "static-evs"], cluster: Self.namespacedOnly())
        #expect(s.code == 0, "\(s.out)\(s.err)")
        #expect(s.out.contains("[unverified] R3 not verified: cannot get persistentvolumes at the cluster scope (PVC apps/static-evs names no provisioner"))
    }

    @Test("restore: R10, R8, R9 unverified, the PVC built from the source PVC and the snapshot's status")
    func restore() async {
        let c = Self.namespacedOnly()
        let r = await evssnap(["restore", "snap-1", "--to", "copy"], cluster: c)
        #expect(r.code == 0, "\(r.err)")
        #expect(r.err.contains("warning: R10 not verified: cannot get storageclasses at the cluster scope"))
        #expect(r.err.contains("warning: R8 not verified:"))
        #expect(r.err.contains("warning: R9 not verified: cannot get storageclasses at the cluster scope (its allowedTopologies)"))
        let made = c.object(.persistentVolumeClaims, namespace: "apps", name: "copy")
        #expect(made?["metadata"]["annotations"]["everest.io/disk-volume-type"].string == "SSD")
        #expect(made?["spec"]["resources"]["requests"]["storage"].string == "10Gi")
        #expect(made?["metadata"]["labels"]["failure-domain.beta.kubernetes.io/zone"].string == "cn-north-4a")
    }

    @Test("describe and list -o wide say what they could not read")
    func describeAndList() async {
        let c = Self.namespacedOnly()
        let d = await evssnap(["describe", "snap-1"], cluster: c)
        #expect(d.code == 0, "\(d.err)")
        #expect(d.out.contains("snapcontent-snap-1 (not readable: cannot get volumesnapshotcontents at the cluster scope)"))
        #expect(d.out.contains("pvc-data-ssd (not readable: cannot get persistentvolumes at the cluster scope)"))
        let l = await evssnap(["list", "-o", "wide"], cluster: c)
        #expect(l.code == 0, "\(l.err)")
        #expect(l.err.hasPrefix("warning: R5 not verified: cannot list volumesnapshotcontents at the cluster scope"))
        #expect(l.out.contains("pvc-data-ssd"))
        #expect(l.out.contains("1/7"))
    }

    @Test("delete needs only namespaced reads")
    func delete() async {
        let c = Self.namespacedOnly()
        let r = await evssnap(["delete", "snap-1"], cluster: c)
        #expect(r.code == 0, "\(r.err)")
        #expect(r.err.isEmpty)
    }

    @Test("a namespaced read that is Forbidden is kubectl's error, exit 1")
    func namespacedForbidden() async {
        let c = Self.namespacedOnly()
        let e = APIError(code: 403, reason: "Forbidden",
                         message: "persistentvolumeclaims \"data-ssd\" is forbidden: User \"mallory\" cannot get resource \"persistentvolumeclaims\" in API group \"\" in the namespace \"apps\"")
        c.fail("persistentvolumeclaims", with: e)
        let r = await evssnap(["create", "data-ssd"], cluster: c)
        #expect(r.code == 1)
        #expect(r.err.hasSuffix("Error from server (Forbidden): persistentvolumeclaims \"data-ssd\" is forbidden: User \"mallory\" cannot get resource \"persistentvolumeclaims\" in API group \"\" in the namespace \"apps\"\n"))
    }
}

/// Issue 10: `check -f` / `restore -f` on a restore PVC the user wrote.
@Suite("restore PVC from a file")
struct RestoreFileTests {
    static func file(_ yaml: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("evssnap-\(UUID().uuidString).yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The seed's restore PVC (CCE page), with its `storage: '10'`.
    static let seed = """
        apiVersion: v1
        kind: PersistentVolumeClaim
        metadata:
          name: pvc-test-restore
          namespace: apps
          annotations:
            everest.io/disk-volume-type: SSD
          labels:
            failure-domain.beta.kubernetes.io/region: cn-north-4
            failure-domain.beta.kubernetes.io/zone: cn-north-4a
        spec:
          accessModes:
          - ReadWriteOnce
          resources:
            requests:
              storage: '10'
          storageClassName: csi-disk
          dataSource:
            name: snap-1
            kind: VolumeSnapshot
            apiGroup: snapshot.storage.k8s.io
        """

    @Test("the seed's storage: '10' is 10 bytes: R10 names 10Gi, R12 warns; exit 2")
    func seedsTen() async throws {
        let r = await evssnap(["check", "-f", try Self.file(Self.seed)])
        #expect(r.code == 2, "\(r.out)\(r.err)")
        #expect(r.out.contains("[FAIL]       R10: restore PVC resources.requests.storage '10' has no unit, so it is 10 bytes (1Gi), not the source's 10Gi; write '10Gi'"), "\(r.out)")
        #expect(r.out.contains("[warn]       R12: storage quantity '10' has no unit, so Kubernetes reads it as 10 bytes"))
    }

    @Test("with 10Gi every rule passes; restore -f creates it as written")
    func fixed() async throws {
        let path = try Self.file(Self.seed.replacingOccurrences(of: "storage: '10'", with: "storage: 10Gi"))
        let r = await evssnap(["check", "-f", path])
        #expect(r.code == 0, "\(r.out)\(r.err)")
        for rule in ["R7", "R10", "R11", "R12", "R8", "R9"] { #expect(r.out.contains("[ok]         \(rule) "), "\(rule): \(r.out)") }
        let c = World.standard()
        let made = await evssnap(["restore", "-f", path], cluster: c)
        #expect(made.code == 0, "\(made.err)")
        #expect(made.out == "persistentvolumeclaim/pvc-test-restore created\n")
        #expect(c.object(.persistentVolumeClaims, namespace: "apps", name: "pvc-test-restore")?["spec"]["resources"]["requests"]["storage"].string == "10Gi")
    }

    @Test("restore -f refuses a PVC of another disk type (R10) and an existing name (R7), writing nothing")
    func refusals() async throws {
        let c = World.standard()
        let sas = await evssnap(["restore", "-f", try Self.file(Self.seed.replacingOccurrences(of: "storage: '10'", with: "storage: 10Gi")
            .replacingOccurrences(of: "disk-volume-type: SSD", with: "disk-volume-type: SAS"))], cluster: c)
        #expect(sas.code == 2)
        #expect(sas.err.contains("R10: "), "\(sas.err)")
        let taken = await evssnap(["restore", "-f", try Self.file(Self.seed.replacingOccurrences(of: "name: pvc-test-restore", with: "name: data-ssd"))], cluster: c)
        #expect(taken.code == 2)
        #expect(taken.err.contains("R7: "), "\(taken.err)")
        #expect(c.writes.isEmpty)
    }
}
