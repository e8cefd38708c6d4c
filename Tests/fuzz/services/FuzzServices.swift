// Fuzz target fuzz-services: decoded requests of every CSI method reach the real Identity, Controller and Node
// services, over a real EVS emulator (SQLite + image files) in a temporary directory. The Node service's host work
// (loop devices, mkfs, mounts) goes to `RecordingHost`, which touches nothing and checks what it is asked.
//
// An input is up to `maxCalls` calls, each `[method][length, 2 bytes little-endian][request bytes]`: the method is
// `CSIMethod.allCases[byte % count]` (proto order: Identity, Controller, Node); a length past the end takes the rest.
// Ids the fuzzer cannot know are written as placeholders and resolved after decoding (see `Harness.resolve`).
//
// What counts as a failure (the process stops, libFuzzer saves the input): a trap or sanitizer report anywhere; an
// INTERNAL or UNKNOWN status (bad input must get a precise code); an OK response that breaks its contract; the Node
// service asking the host to stage or expand a file outside the emulator's disk images.
import CSIDriver
import CSIMessages
import EVSEmulator
import EVSSnapshotRules
import FuzzSupport
import Logging
import NodeOps
import RPCServer

#if canImport(Glibc)
import Glibc
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    Harness.shared.run(fuzzInput(data, size))
    return 0
}

#if !FUZZING
@main enum Replay { static func main() { FuzzReplay.main(fuzzOneInput) } }
#endif

/// The services over one emulator, with a baseline of volumes and snapshots the inputs can name.
final class Harness: @unchecked Sendable {  // libFuzzer calls the entry point from one thread at a time.
    static let shared = Harness()

    static let maxCalls = 8
    /// Inputs run on one state before it is thrown away and rebuilt (keeps the fuzzer fast and the disk small).
    static let inputsPerState = 500
    static let nodeID = "fuzz-node"

    let root: String
    var generation = 0
    var inputs = 0
    var state: State!

    /// One emulator state and the services over it.
    struct State {
        let directory: String
        let emulator: EVSEmulator
        let identity: IdentityService
        let controller: ControllerService
        let node: NodeService
        let host: RecordingHost
        /// Placeholder → value: `@v0` `@v1` `@v2` (volumes; `@v2` is restored from `@s0`), `@s0` `@s1` (snapshots),
        /// `@img-v0` `@img-v1` (their image paths), `@node` (this node's id).
        var names: [String: String]
    }

    init() {
        var template = Array("/tmp/evssnap-fuzz-services-XXXXXX".utf8CString)
        guard let dir = mkdtemp(&template) else { fatalError("mkdtemp failed: errno \(errno)") }
        root = String(cString: dir)
        atexit { removeTree(Harness.shared.root) }
        rebuild()
    }

    func rebuild() {
        if let state { removeTree(state.directory) }
        generation += 1
        let directory = "\(root)/state-\(generation)"
        let emulator: EVSEmulator
        do {
            emulator = try EVSEmulator(configuration: EmulatorConfiguration(
                stateDirectory: directory, maxAttachmentsPerNode: 8, durableWrites: false))
        } catch {
            fatalError("cannot open an emulator in \(directory): \(error)")
        }
        // The emulator attaches only to registered nodes, as EVS attaches only to servers that exist.
        do { try NodeRegistry(stateDirectory: directory).register(Self.nodeID) } catch {
            fatalError("cannot register node \(Self.nodeID) in \(directory): \(error)")
        }
        var logger = Logger(label: "fuzz-services")
        logger.logLevel = .critical
        let host = RecordingHost(disksDirectory: directory + "/disks")
        let controller = ControllerService(backend: emulator, driverName: EverestNames.driverName, annotations: nil, logger: logger)
        let node = NodeService(nodeID: Self.nodeID, zone: EmulatorConfiguration.defaultTopology.zone, maxVolumesPerNode: 8,
                               locator: emulator, operations: host)
        let identity = IdentityService(driverName: EverestNames.driverName, servesController: true,
                                       health: { emulator.health() })
        state = State(directory: directory, emulator: emulator, identity: identity, controller: controller, node: node,
                      host: host, names: ["@node": Self.nodeID])
        makeBaseline()
    }

    private func makeBaseline() {
        let mount = CSI.VolumeCapability(accessType: .mount(.init(fsType: "ext4")), accessMode: .init(mode: .singleNodeWriter))
        func volume(_ name: String, gib: Int64, type: String, from snapshot: String? = nil) -> String {
            let request = CSI.CreateVolumeRequest(
                name: name, capacityRange: .init(requiredBytes: gib << 30), volumeCapabilities: [mount],
                parameters: ["everest.io/disk-volume-type": type],
                volumeContentSource: snapshot.map { .init(type: .snapshot(.init(snapshotId: $0))) })
            guard let id = try? state.controller.createVolume(request).volume?.volumeId else { fatalError("baseline volume \(name)") }
            return id
        }
        func snapshot(_ name: String, of volume: String) -> String {
            guard let id = try? state.controller.createSnapshot(.init(sourceVolumeId: volume, name: name)).snapshot?.snapshotId
            else { fatalError("baseline snapshot \(name)") }
            return id
        }
        let v0 = volume("fuzz-base-0", gib: 1, type: "SAS")
        let v1 = volume("fuzz-base-1", gib: 2, type: "SSD")
        let s0 = snapshot("fuzz-snap-0", of: v0)
        let s1 = snapshot("fuzz-snap-1", of: v1)
        let v2 = volume("fuzz-base-2", gib: 1, type: "SAS", from: s0)
        guard (try? state.controller.publishVolume(.init(volumeId: v0, nodeId: Self.nodeID, volumeCapability: mount))) != nil
        else { fatalError("baseline publish") }
        state.names.merge([
            "@v0": v0, "@v1": v1, "@v2": v2, "@s0": s0, "@s1": s1,
            "@img-v0": state.emulator.diskImagePath(DiskID(v0)), "@img-v1": state.emulator.diskImagePath(DiskID(v1)),
        ]) { $1 }
    }

    /// Runs the calls of one input.
    func run(_ input: [UInt8]) {
        inputs += 1
        if inputs % Self.inputsPerState == 0 { rebuild() }
        var rest = input[...]
        var lastVolume: String?
        var lastSnapshot: String?
        for _ in 0..<Self.maxCalls {
            guard let selector = rest.popFirst() else { break }
            let method = CSIMethod.allCases[Int(selector) % CSIMethod.allCases.count]
            var length = 0
            if let lo = rest.popFirst() { length = Int(lo) }
            if let hi = rest.popFirst() { length |= Int(hi) << 8 }
            let payload = Array(rest.prefix(length))
            rest = rest.dropFirst(length)
            state.names["@nv"] = lastVolume ?? ""
            state.names["@ns"] = lastSnapshot ?? ""
            let outcome = call(method, payload)
            if let volume = outcome.volume { lastVolume = volume }
            if let snapshot = outcome.snapshot { lastSnapshot = snapshot }
        }
    }

    /// A placeholder's value; anything else unchanged.
    func resolve(_ text: String) -> String {
        guard text.hasPrefix("@") else { return text }
        return state.names[text] ?? text
    }

    func resolve(_ map: [String: String]) -> [String: String] {
        map.mapValues(resolve)
    }

    struct Outcome {
        var volume: String?
        var snapshot: String?
    }

    /// Decodes and serves one call as CSIEndpoint would, then checks the outcome.
    func call(_ method: CSIMethod, _ bytes: [UInt8]) -> Outcome {
        var outcome = Outcome()
        do {
            try serve(method, bytes, &outcome)
        } catch {
            let status = StatusMapping.status(for: error)
            switch status.code {
            case .internal, .unknown:
                fatalError("\(method.rawValue) answered \(status.code): \(status.message)")
            case .ok:
                fatalError("\(method.rawValue) threw \(error), which maps to OK")
            default:
                if status.message.isEmpty { fatalError("\(method.rawValue) answered \(status.code) without a message") }
            }
        }
        return outcome
    }

    private func decode<M: CSIMessage>(_ bytes: [UInt8]) throws -> M {
        try M(serializedBytes: bytes)
    }

    private func serve(_ method: CSIMethod, _ bytes: [UInt8], _ outcome: inout Outcome) throws {
        let s = state!
        switch method {
        // Identity
        case .getPluginInfo:
            let response = s.identity.getPluginInfo(try decode(bytes))
            expect(!response.name.isEmpty, "GetPluginInfo without a name")
        case .getPluginCapabilities:
            _ = s.identity.getPluginCapabilities(try decode(bytes))
        case .probe:
            _ = s.identity.probe(try decode(bytes))

        // Controller
        case .createVolume:
            var r: CSI.CreateVolumeRequest = try decode(bytes)
            if case .snapshot(var source)? = r.volumeContentSource?.type {
                source.snapshotId = resolve(source.snapshotId)
                r.volumeContentSource?.type = .snapshot(source)
            }
            let volume = try s.controller.createVolume(r).volume
            expect(volume != nil && !volume!.volumeId.isEmpty, "CreateVolume OK without a volume id")
            if let range = r.capacityRange, range.requiredBytes > 0 {
                expect(volume!.capacityBytes >= range.requiredBytes, "CreateVolume OK with \(volume!.capacityBytes) < required \(range.requiredBytes)")
            }
            if let range = r.capacityRange, range.limitBytes > 0 {
                expect(volume!.capacityBytes <= range.limitBytes, "CreateVolume OK with \(volume!.capacityBytes) > limit \(range.limitBytes)")
            }
            outcome.volume = volume?.volumeId
        case .deleteVolume:
            var r: CSI.DeleteVolumeRequest = try decode(bytes)
            r.volumeId = resolve(r.volumeId)
            _ = try s.controller.deleteVolume(r)
        case .controllerPublishVolume:
            var r: CSI.ControllerPublishVolumeRequest = try decode(bytes)
            r.volumeId = resolve(r.volumeId)
            r.nodeId = resolve(r.nodeId)
            _ = try s.controller.publishVolume(r)
        case .controllerUnpublishVolume:
            var r: CSI.ControllerUnpublishVolumeRequest = try decode(bytes)
            r.volumeId = resolve(r.volumeId)
            r.nodeId = resolve(r.nodeId)
            _ = try s.controller.unpublishVolume(r)
        case .validateVolumeCapabilities:
            var r: CSI.ValidateVolumeCapabilitiesRequest = try decode(bytes)
            r.volumeId = resolve(r.volumeId)
            _ = try s.controller.validateVolumeCapabilities(r)
        case .listVolumes:
            let r: CSI.ListVolumesRequest = try decode(bytes)
            let response = try s.controller.listVolumes(r)
            if r.maxEntries > 0 {
                expect(response.entries.count <= Int(r.maxEntries), "ListVolumes returned \(response.entries.count) > max_entries \(r.maxEntries)")
            }
        case .getCapacity:
            _ = try s.controller.getCapacity(try decode(bytes), zones: [EmulatorConfiguration.defaultTopology.zone])
        case .controllerGetCapabilities:
            _ = s.controller.getCapabilities(try decode(bytes))
        case .createSnapshot:
            var r: CSI.CreateSnapshotRequest = try decode(bytes)
            r.sourceVolumeId = resolve(r.sourceVolumeId)
            let snapshot = try s.controller.createSnapshot(r).snapshot
            expect(snapshot != nil && !snapshot!.snapshotId.isEmpty, "CreateSnapshot OK without a snapshot id")
            expect(snapshot?.sourceVolumeId == r.sourceVolumeId, "CreateSnapshot OK for another source volume")
            outcome.snapshot = snapshot?.snapshotId
        case .deleteSnapshot:
            var r: CSI.DeleteSnapshotRequest = try decode(bytes)
            r.snapshotId = resolve(r.snapshotId)
            _ = try s.controller.deleteSnapshot(r)
        case .listSnapshots:
            var r: CSI.ListSnapshotsRequest = try decode(bytes)
            r.sourceVolumeId = resolve(r.sourceVolumeId)
            r.snapshotId = resolve(r.snapshotId)
            let response = try s.controller.listSnapshots(r)
            if r.maxEntries > 0 {
                expect(response.entries.count <= Int(r.maxEntries), "ListSnapshots returned \(response.entries.count) > max_entries \(r.maxEntries)")
            }
        case .getSnapshot:
            var r: CSI.GetSnapshotRequest = try decode(bytes)
            r.snapshotId = resolve(r.snapshotId)
            _ = try s.controller.getSnapshot(r)
        case .controllerExpandVolume:
            var r: CSI.ControllerExpandVolumeRequest = try decode(bytes)
            r.volumeId = resolve(r.volumeId)
            let response = try s.controller.expandVolume(r)
            if let range = r.capacityRange, range.requiredBytes > 0 {
                expect(response.capacityBytes >= range.requiredBytes, "ControllerExpandVolume OK with \(response.capacityBytes) < required \(range.requiredBytes)")
            }
        case .controllerGetVolume:
            var r: CSI.ControllerGetVolumeRequest = try decode(bytes)
            r.volumeId = resolve(r.volumeId)
            _ = try s.controller.getVolume(r)
        case .controllerModifyVolume:
            var r: CSI.ControllerModifyVolumeRequest = try decode(bytes)
            r.volumeId = resolve(r.volumeId)
            _ = try s.controller.modifyVolume(r)

        // Node
        case .nodeStageVolume:
            var r: CSI.NodeStageVolumeRequest = try decode(bytes)
            r.volumeId = resolve(r.volumeId)
            r.publishContext = resolve(r.publishContext)
            _ = try s.node.stage(r)
        case .nodeUnstageVolume:
            var r: CSI.NodeUnstageVolumeRequest = try decode(bytes)
            r.volumeId = resolve(r.volumeId)
            _ = try s.node.unstage(r)
        case .nodePublishVolume:
            var r: CSI.NodePublishVolumeRequest = try decode(bytes)
            r.volumeId = resolve(r.volumeId)
            r.publishContext = resolve(r.publishContext)
            _ = try s.node.publish(r)
        case .nodeUnpublishVolume:
            var r: CSI.NodeUnpublishVolumeRequest = try decode(bytes)
            r.volumeId = resolve(r.volumeId)
            _ = try s.node.unpublish(r)
        case .nodeGetVolumeStats:
            var r: CSI.NodeGetVolumeStatsRequest = try decode(bytes)
            r.volumeId = resolve(r.volumeId)
            _ = try s.node.volumeStats(r)
        case .nodeExpandVolume:
            var r: CSI.NodeExpandVolumeRequest = try decode(bytes)
            r.volumeId = resolve(r.volumeId)
            _ = try s.node.expand(r)
        case .nodeGetCapabilities:
            _ = s.node.getCapabilities(try decode(bytes))
        case .nodeGetInfo:
            let response = s.node.getInfo(try decode(bytes))
            expect(response.nodeId == Self.nodeID, "NodeGetInfo answered node id \(response.nodeId)")
        }
    }

    private func expect(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { fatalError(message()) }
    }
}

/// The Node service's host, recorded instead of done. It answers as a healthy host would, and stops the process
/// when the service asks it to use an image that is not one of the emulator's disk images: a request must never
/// make the node attach, format or grow a file of its choosing (issue 9's NodeStageVolume finding).
final class RecordingHost: NodeHost, @unchecked Sendable {  // one fuzzing thread
    let disksDirectory: String
    /// How many calls of each kind were made (for a curious reader in a debugger; not checked).
    var calls: [String: Int] = [:]

    init(disksDirectory: String) {
        self.disksDirectory = disksDirectory
    }

    private func checkImage(_ image: String, _ call: String) throws {
        calls[call, default: 0] += 1
        let components = image.split(separator: "/", omittingEmptySubsequences: false)
        guard image.hasPrefix(disksDirectory + "/"), !components.contains(".."), !components.contains("."),
              image.hasSuffix(".img")
        else {
            fatalError("NodeHost.\(call) was asked to use \(image), which is not a disk image under \(disksDirectory)")
        }
        var info = stat()
        guard stat(image, &info) == 0 else { throw NodeOpsError.notFound(path: image) }
    }

    func stage(image: String, stagingPath: String, access: VolumeAccess, readOnly: Bool) throws -> StagedVolume {
        try checkImage(image, "stage")
        return StagedVolume(device: LoopDevice(number: 0, backingFile: image, readOnly: readOnly), stagingPath: stagingPath,
                            blockDeviceFile: access == .block ? stagingPath + "/block" : nil, formatted: false, alreadyStaged: false)
    }

    func unstage(stagingPath: String, image: String?) throws {
        if let image { try checkImage(image, "unstage") } else { calls["unstage", default: 0] += 1 }
    }

    func publish(stagingPath: String, targetPath: String, readOnly: Bool, access: VolumeAccess, image: String?) throws {
        if let image { try checkImage(image, "publish") } else { calls["publish", default: 0] += 1 }
    }

    func content(at path: String) throws -> PathContent {
        calls["content", default: 0] += 1
        return .nothing
    }

    func otherPublications(stagingPath: String, targetPath: String) throws -> [String] {
        calls["otherPublications", default: 0] += 1
        return []
    }

    func unpublish(targetPath: String) throws {
        calls["unpublish", default: 0] += 1
    }

    func volumeStats(path: String) throws -> VolumeStats {
        calls["volumeStats", default: 0] += 1
        return VolumeStats(
            usage: .fileSystem(FileSystemUsage(totalBytes: 1 << 30, usedBytes: 1 << 20, availableBytes: (1 << 30) - (1 << 20),
                                               totalInodes: 65536, usedInodes: 11, freeInodes: 65525)),
            condition: VolumeCondition(abnormal: false, message: "volume is healthy"))
    }

    func expand(image: String?, stagingOrTargetPath: String) throws -> Int64 {
        guard let image else { calls["expand", default: 0] += 1; return 0 }
        try checkImage(image, "expand")
        var info = stat()
        return stat(image, &info) == 0 ? Int64(info.st_size) : 0
    }
}

/// `rm -rf path` (the harness's own temporary directory only).
func removeTree(_ path: String) {
    guard path.hasPrefix("/tmp/evssnap-fuzz-services-") else { return }
    var info = stat()
    guard lstat(path, &info) == 0 else { return }
    if (info.st_mode & S_IFMT) == S_IFDIR, let dir = opendir(path) {
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        closedir(dir)
        for name in names { removeTree(path + "/" + name) }
        rmdir(path)
    } else {
        unlink(path)
    }
}
