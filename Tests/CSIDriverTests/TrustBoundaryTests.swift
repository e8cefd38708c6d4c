import CSIMessages
import EVSEmulator
import EVSSnapshotRules
import Foundation
import Logging
import RPCServer
import Testing

@testable import CSIDriver

/// Issue 9's boundaries, in-process: id formats, node paths, the node's image from its own state, tcp endpoints
/// on loopback only, VOLUME_CONDITION from the image file. (The root-only parts, loop devices and mounts, are in
/// Tests/conformance/test_hardening.py.)
@Suite("Trust boundaries")
struct TrustBoundaryTests {
    static let wellFormed = ["5a6f3c2e-0b1d-4e8f-9a7b-1c2d3e4f5a6b", "5A6F3C2E-0B1D-4E8F-9A7B-1C2D3E4F5A6B",
                             "00000000-0000-0000-0000-000000000000"]
    static let malformed = ["", "fake-vol-id", "reallyfakesnapshotid", "../../etc/passwd", "..", "/", "a/b",
                            "5a6f3c2e-0b1d-4e8f-9a7b-1c2d3e4f5a6", "5a6f3c2e-0b1d-4e8f-9a7b-1c2d3e4f5a6bb",
                            "5a6f3c2e_0b1d-4e8f-9a7b-1c2d3e4f5a6b", "5a6f3c2e-0b1d-4e8f-9a7b-1c2d3e4f5a6g",
                            "5a6f3c2e-0b1d-4e8f-9a7b-1c2d3e4f5a6\u{0}", "5a6f3c2e-0b1d-4e8f-9a7b-1c2d3e4f5a/b",
                            "5a6f3c2e-0b1d-4e8f-9a7b-1c2d3e4f5aé", String(repeating: "a", count: 5000)]

    @Test("EVS ids: UUIDs are well formed; anything that could be a path is not",
          arguments: TrustBoundaryTests.wellFormed + TrustBoundaryTests.malformed)
    func idFormat(text: String) {
        let expected = Self.wellFormed.contains(text)
        #expect(EVSIdentifier.isWellFormed(text) == expected)
        #expect((DiskID(validating: text) != nil) == expected)
        #expect((SnapshotID(validating: text) != nil) == expected)
        #expect(StateLayout.diskImagePath(stateDirectory: "/s", id: DiskID(text)) == (expected ? "/s/disks/\(text).img" : nil))
    }

    @Test("messages quote at most 64 characters of an id and escape control characters")
    func quoting() {
        #expect(EVSIdentifier.quoted("a\u{0}b\n") == "'a\\0b\\n'")
        #expect(EVSIdentifier.quoted(String(repeating: "x", count: 100)).count == 64 + 3)
    }

    @Test("node paths: absolute and normalized", arguments: [
        ("/var/lib/kubelet/pods/x/volumes/kubernetes.io~csi/pv/mount", true), ("/a", true), ("/a b/c..d/.e", true),
        ("relative", false), ("./x", false), ("/", false), ("//x", false), ("/x/", false), ("/x/./y", false),
        ("/x/../y", false), ("/x/..", false), ("/x\u{0}y", false), ("/" + String(repeating: "a", count: 4096), false),
    ])
    func nodePaths(path: String, valid: Bool) {
        #expect((RequestValidation.pathProblem(path) == nil) == valid, "\(path)")
        let error = #expect(throws: DriverError.self) { _ = try RequestValidation.nodePath(valid ? "" : path, "f") }
        #expect(error.map { StatusMapping.status(for: $0).code } == .invalidArgument)
        if !valid {
            let lookup = #expect(throws: DriverError.self) { _ = try RequestValidation.lookupPath(path, "f", volume: "v") }
            #expect(lookup.map { StatusMapping.status(for: $0).code } == .notFound)
        }
    }

    @Test("tcp endpoints: loopback or not", arguments: [
        ("tcp://127.0.0.1:1", true), ("tcp://127.255.0.9:1", true), ("tcp://localhost:1", true), ("tcp://[::1]:1", true),
        ("tcp://[::ffff:127.0.0.1]:1", true), ("unix:///tmp/x.sock", true), ("tcp://0.0.0.0:1", false),
        ("tcp://[::]:1", false), ("tcp://10.1.2.3:1", false), ("tcp://128.0.0.1:1", false),
        ("tcp://localhost.example.com:1", false), ("tcp://[::2]:1", false), ("tcp://[::ffff:10.0.0.1]:1", false),
    ])
    func loopback(endpoint: String, loopback: Bool) throws {
        #expect(try RPCEndpoint(parsing: endpoint).isLoopback == loopback)
    }

    @Test("the driver refuses a tcp endpoint off loopback, naming the reason")
    func driverRefusesTCP() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tcp-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let configuration = DriverConfiguration(endpoint: "tcp://0.0.0.0:0", nodeID: "n", stateDirectory: dir)
        do {
            _ = try Driver(configuration: configuration, backend: nil, locator: EmulatorNodeLocator(), logger: Logger(label: "test"))
            Issue.record("a driver on 0.0.0.0 was created")
        } catch let error as Driver.StartError {
            guard case .configuration(let text) = error else { Issue.record("\(error)"); return }
            #expect(text.contains("not a loopback address") && text.contains("no authentication"))
        }
    }

    static func emulator() throws -> (EVSEmulator, ControllerService, String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trust-\(UUID().uuidString)").path
        let backend = try EVSEmulator(configuration: EmulatorConfiguration(stateDirectory: dir, durableWrites: false))
        return (backend, ControllerService(backend: backend, driverName: EverestNames.driverName, annotations: nil,
                                           logger: Logger(label: "test")), dir)
    }

    static let mount = CSI.VolumeCapability(accessType: .mount(.init(fsType: "ext4")), accessMode: .init(mode: .singleNodeWriter))

    @Test("the node takes the image from the volume id; a publish context naming another file is INVALID_ARGUMENT")
    func nodeImageFromState() throws {
        let (backend, controller, dir) = try Self.emulator()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let volume = try #require(try controller.createVolume(
            .init(name: "pvc-1", capacityRange: .init(requiredBytes: 1 << 30), volumeCapabilities: [Self.mount])).volume)
        let id = try #require(DiskID(validating: volume.volumeId))
        #expect(StateLayout.diskImagePath(stateDirectory: dir, id: id) == backend.diskImagePath(id))
        for node in [NodeService(nodeID: "n", zone: "z", maxVolumesPerNode: 1, locator: backend),
                     NodeService(nodeID: "n", zone: "z", maxVolumesPerNode: 1, locator: EmulatorNodeLocator(stateDirectory: dir))] {
            #expect(try node.imagePath(id, publishContext: [:]) == backend.diskImagePath(id))
            #expect(try node.imagePath(id, publishContext: [PublishContextKey.devicePath: backend.diskImagePath(id)])
                    == backend.diskImagePath(id))
            for forged in ["/tmp/victim.img", dir + "/disks/../victim.img", "", backend.diskImagePath(id) + "x"] {
                let error = #expect(throws: DriverError.self) {
                    try node.stage(.init(volumeId: volume.volumeId, publishContext: [PublishContextKey.devicePath: forged],
                                         stagingTargetPath: "/tmp/evssnap-trust-staging", volumeCapability: Self.mount))
                }
                #expect(error.map { StatusMapping.status(for: $0).code } == .invalidArgument, "\(forged)")
            }
            let unknown = #expect(throws: (any Error).self) {
                _ = try node.imagePath(DiskID("0b9d2f4e-3c1a-4e5f-8a7b-6c5d4e3f2a1b"), publishContext: [:])
            }
            #expect(unknown.map { StatusMapping.status(for: $0).code } == .notFound)
        }
        #expect(!FileManager.default.fileExists(atPath: "/tmp/evssnap-trust-staging"))
    }

    @Test("VOLUME_CONDITION: a missing or short image is abnormal, with the file named")
    func volumeCondition() throws {
        let (backend, controller, dir) = try Self.emulator()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let volume = try #require(try controller.createVolume(
            .init(name: "pvc-c", capacityRange: .init(requiredBytes: 1 << 30), volumeCapabilities: [Self.mount])).volume)
        let image = backend.diskImagePath(DiskID(volume.volumeId))
        func condition() throws -> CSI.VolumeCondition? {
            try controller.getVolume(.init(volumeId: volume.volumeId)).status?.volumeCondition
        }
        #expect(try condition()?.abnormal == false)
        try FileManager.default.moveItem(atPath: image, toPath: image + ".away")
        let missing = try #require(try condition())
        #expect(missing.abnormal && missing.message.contains("missing") && missing.message.contains(image))
        #expect(try controller.listVolumes(.init()).entries.first?.status?.volumeCondition?.abnormal == true)
        #expect(FileManager.default.createFile(atPath: image, contents: Data(count: 4096)))
        let short = try #require(try condition())
        #expect(short.abnormal && short.message.contains("less than"))
        try FileManager.default.removeItem(atPath: image)
        try FileManager.default.createDirectory(atPath: image, withIntermediateDirectories: false)
        #expect(try condition()?.message.contains("not a regular file") == true)
        try FileManager.default.removeItem(atPath: image)
        try FileManager.default.moveItem(atPath: image + ".away", toPath: image)
        #expect(try condition()?.abnormal == false)
    }
}
