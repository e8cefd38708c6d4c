import CSIDriver
import CSIMessages
import EVSSnapCLI
import EVSSnapshotRules
import Foundation
import Logging
import RPCServer
import Testing
import struct KubeClient.ResourceType

@testable import EVSEmulator

/// One rule engine in fact: every refusal both programs can meet runs through the plugin's path (`kubectl evssnap`
/// in-process against an in-memory cluster) and through the driver's path (the Controller service in-process over
/// the emulator in a temp dir, its error mapped by StatusMapping), and both must name the same rule with the same
/// message. The cluster mirrors the emulator: the PV's volumeHandle is the emulator's disk id, the
/// VolumeSnapshotContent's snapshotHandle its snapshot id. The driver runs with the settings it would publish,
/// read back through the one codec (`RuleSettings.publishedAnnotations` / `RuleSettings.published`).
struct ParityCase: CustomTestStringConvertible, Sendable {
    var name: String
    var rule: String
    /// The plugin's command line.
    var plugin: [String]
    /// The driver's call, on the rig.
    var driver: @Sendable (ParityRig) throws -> Void
    /// Changes to both sides before the calls.
    var setup: @Sendable (ParityRig) throws -> Void = { _ in }
    var testDescription: String { "\(rule): \(name)" }
}

/// The emulator, the Controller service over it, and the in-memory cluster mirroring it: PVC `apps/src` bound to
/// PV `pv-src` of the emulator's disk (SAS, SCSI, 10 GiB, cn-north-4a), VolumeSnapshot `snap-src` of it.
final class ParityRig: @unchecked Sendable {
    let directory: String
    let emulator: EVSEmulator
    let controller: ControllerService
    let cluster: InMemoryCluster
    let disk: Disk
    let snapshot: Snapshot

    static let classParameters = ["everest.io/disk-volume-type": "SAS", "everest.io/passthrough": "true"]

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("parity-\(UUID().uuidString)").path
        let published = RuleSettings.default.publishedAnnotations
        let settings = try #require(try RuleSettings.published(driverName: EverestNames.driverName, annotations: published))
        emulator = try EVSEmulator(configuration: EmulatorConfiguration(
            stateDirectory: directory,
            topologies: [Topology(region: "cn-north-4", zone: "cn-north-4a"), Topology(region: "cn-north-4", zone: "cn-north-4b")],
            rules: settings))
        // The restore PVC the plugin writes carries the source's type annotation; the driver reads it from the PVC.
        struct RestorePVCAnnotations: PVCAnnotationSource {
            func annotations(namespace: String, name: String) throws -> [String: String]? { ["everest.io/disk-volume-type": "SAS"] }
        }
        controller = ControllerService(backend: emulator, driverName: settings.driverName, annotations: RestorePVCAnnotations(),
                                       logger: Logger(label: "parity"))
        let volume = try #require(try controller.createVolume(Self.create("pvc-src", parameters: Self.classParameters)).volume)
        disk = try #require(try emulator.getDisk(DiskID(volume.volumeId)))
        let made = try #require(try controller.createSnapshot(.init(sourceVolumeId: volume.volumeId, name: "snap-src")).snapshot)
        snapshot = try #require(try emulator.getSnapshot(SnapshotID(made.snapshotId)))

        cluster = World.standard()
        cluster.put(.csiDrivers, ["metadata": ["name": .string(settings.driverName),
                                               "annotations": .object(published.mapValues { .string($0) })],
                                  "spec": ["attachRequired": true]])
        cluster.put(.persistentVolumeClaims, World.pvc("src", volume: "pv-src"))
        cluster.put(.persistentVolumes, World.pv("pv-src", handle: disk.id.rawValue, claim: "src", attributes: Self.classParameters))
        mirrorSnapshot("snap-src", handle: snapshot.id.rawValue, ready: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    static let mount = CSI.VolumeCapability(accessType: .mount(.init(fsType: "ext4")), accessMode: .init(mode: .singleNodeWriter))

    /// A CreateVolume as external-provisioner sends it for a PVC of a class with `parameters`.
    static func create(_ name: String, gib: Int64 = 10, parameters: [String: String], source: SnapshotID? = nil,
                       zones: [String] = []) -> CSI.CreateVolumeRequest {
        var p = parameters
        p["csi.storage.k8s.io/pvc/name"] = name
        p["csi.storage.k8s.io/pvc/namespace"] = "apps"
        var request = CSI.CreateVolumeRequest(
            name: name, capacityRange: .init(requiredBytes: gib << 30), volumeCapabilities: [mount], parameters: p,
            volumeContentSource: source.map { .init(type: .snapshot(.init(snapshotId: $0.rawValue))) })
        if !zones.isEmpty {
            request.accessibilityRequirements = .init(
                requisite: zones.map { CSI.Topology(segments: ["topology.kubernetes.io/zone": $0]) })
        }
        return request
    }

    /// A VolumeSnapshot of PVC `src` and its content, whose snapshotHandle is `handle`.
    func mirrorSnapshot(_ name: String, handle: String, ready: Bool) {
        World.addSnapshot(cluster, name, pvc: "src", disk: disk.id.rawValue, ready: ready)
        var content = cluster.object(World.vsc, namespace: nil, name: "snapcontent-\(name)")!
        content["status"]["snapshotHandle"] = .string(handle)
        content["status"]["restoreSize"] = .int(10_737_418_240)
        cluster.put(World.vsc, content)
    }

    /// A StorageClass of the driver with `parameters`.
    func addClass(_ name: String, parameters: [String: String], zones: [String]? = nil) {
        cluster.put(.storageClasses, World.storageClass(name, params: parameters, zones: zones))
    }
}

let parityCases: [ParityCase] = [
    ParityCase(name: "reserved snapshot name", rule: "R14", plugin: ["create", "src", "--name", "autobk_snapshot_1"]) { rig in
        _ = try rig.controller.createSnapshot(.init(sourceVolumeId: rig.disk.id.rawValue, name: "autobk_snapshot_1"))
    },
    ParityCase(name: "snapshot name of 129 characters", rule: "R14",
               plugin: ["create", "src", "--name", String(repeating: "a", count: 129)]) { rig in
        _ = try rig.controller.createSnapshot(.init(sourceVolumeId: rig.disk.id.rawValue, name: String(repeating: "a", count: 129)))
    },
    ParityCase(name: "reserved name and a full quota: the name is judged first", rule: "R14",
               plugin: ["create", "src", "--name", "autobk_snapshot_2"],
               driver: { rig in
                   _ = try rig.controller.createSnapshot(.init(sourceVolumeId: rig.disk.id.rawValue, name: "autobk_snapshot_2"))
               },
               setup: { rig in try fillQuota(rig) }),
    ParityCase(name: "disk still being created", rule: "R4", plugin: ["create", "src", "--name", "s-r4"],
               driver: { rig in _ = try rig.controller.createSnapshot(.init(sourceVolumeId: rig.disk.id.rawValue, name: "s-r4")) },
               setup: { rig in
                   try rig.emulator.forceStatus(.creating, disk: rig.disk.id)
                   rig.cluster.put(.persistentVolumes, World.pv("pv-src", handle: rig.disk.id.rawValue, claim: "src", phase: "Pending",
                                                               attributes: ParityRig.classParameters))
               }),
    ParityCase(name: "the 8th snapshot of a disk", rule: "R5", plugin: ["create", "src", "--name", "s-r5"],
               driver: { rig in _ = try rig.controller.createSnapshot(.init(sourceVolumeId: rig.disk.id.rawValue, name: "s-r5")) },
               setup: { rig in try fillQuota(rig) }),
    ParityCase(name: "restore from a snapshot not ready yet", rule: "R11", plugin: ["restore", "snap-src", "--to", "copy"],
               driver: { rig in
                   _ = try rig.controller.createVolume(ParityRig.create("copy", parameters: ParityRig.classParameters, source: rig.snapshot.id))
               },
               setup: { rig in
                   try rig.emulator.forceStatus(.creating, snapshot: rig.snapshot.id)
                   rig.mirrorSnapshot("snap-src", handle: rig.snapshot.id.rawValue, ready: false)
               }),
    ParityCase(name: "restore through a class stating VBD over a SCSI source", rule: "R8",
               plugin: ["restore", "snap-src", "--to", "copy", "--storage-class", "csi-vbd"],
               driver: { rig in
                   _ = try rig.controller.createVolume(ParityRig.create("copy", parameters: ["everest.io/passthrough": "false"],
                                                                        source: rig.snapshot.id))
               },
               setup: { rig in rig.addClass("csi-vbd", parameters: ["everest.io/passthrough": "false"]) }),
    ParityCase(name: "restore through a class stating a KMS key over a plain source", rule: "R8",
               plugin: ["restore", "snap-src", "--to", "copy", "--storage-class", "csi-kms"],
               driver: { rig in
                   _ = try rig.controller.createVolume(ParityRig.create("copy", parameters: ["everest.io/crypt-key-id": "kms-9"],
                                                                        source: rig.snapshot.id))
               },
               setup: { rig in rig.addClass("csi-kms", parameters: ["everest.io/crypt-key-id": "kms-9"]) }),
    ParityCase(name: "restore whose topology excludes the snapshot's zone", rule: "R9",
               plugin: ["restore", "snap-src", "--to", "copy", "--storage-class", "csi-zone-b"],
               driver: { rig in
                   _ = try rig.controller.createVolume(ParityRig.create("copy", parameters: [:], source: rig.snapshot.id,
                                                                        zones: ["cn-north-4b"]))
               },
               setup: { rig in rig.addClass("csi-zone-b", parameters: [:], zones: ["cn-north-4b"]) }),
]

/// Six more snapshots of the source disk on both sides: seven in all, the quota.
func fillQuota(_ rig: ParityRig) throws {
    for i in 1...6 {
        let made = try #require(try rig.controller.createSnapshot(.init(sourceVolumeId: rig.disk.id.rawValue, name: "fill-\(i)")).snapshot)
        rig.mirrorSnapshot("fill-\(i)", handle: made.snapshotId, ready: true)
    }
}

@Test("the plugin and the driver refuse with the same rule and message", arguments: parityCases)
func parity(_ c: ParityCase) async throws {
    let rig = try ParityRig()
    try c.setup(rig)
    let driverMessage: String
    do {
        try c.driver(rig)
        Issue.record("the driver accepted the request")
        return
    } catch {
        driverMessage = StatusMapping.status(for: error).message
    }
    let r = await evssnap(c.plugin, cluster: rig.cluster)
    #expect(r.code == 2, "stderr: \(r.err)")
    let lines = r.err.split(separator: "\n").map(String.init)
    let pluginMessage = String(try #require(lines.first { $0.hasPrefix("error: ") }).dropFirst("error: ".count))
    #expect(driverMessage.hasPrefix("\(c.rule): "), "driver: \(driverMessage)")
    #expect(pluginMessage.hasPrefix("\(c.rule): "), "plugin: \(pluginMessage)")
    // The plugin may add a hint after the domain's message (`: choose another --name`); the message itself is one.
    #expect(pluginMessage == driverMessage || pluginMessage.hasPrefix(driverMessage + ": "),
            "plugin: \(pluginMessage)\ndriver: \(driverMessage)")
}
