import CSIMessages
import EVSEmulator
import EVSSnapshotRules
import Foundation
import Logging
import RPCServer
import Testing

@testable import CSIDriver

/// The Controller service in-process on a real emulator in a temp dir (the gRPC path is covered by
/// Tests/conformance). These pin the translation between CSI requests and the backend.
@Suite("ControllerService")
struct ControllerServiceTests {
    struct PVCs: PVCAnnotationSource {
        let table: [String: [String: String]]
        func annotations(namespace: String, name: String) throws -> [String: String]? { table["\(namespace)/\(name)"] }
    }

    static func service(annotations: (any PVCAnnotationSource)? = nil) throws -> (ControllerService, String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("csidriver-\(UUID().uuidString)").path
        let backend = try EVSEmulator(configuration: EmulatorConfiguration(stateDirectory: dir))
        return (ControllerService(backend: backend, driverName: EverestNames.driverName, annotations: annotations,
                                  logger: Logger(label: "test")), dir)
    }

    static let mount = CSI.VolumeCapability(accessType: .mount(.init(fsType: "ext4")), accessMode: .init(mode: .singleNodeWriter))

    static func create(_ name: String, gib: Int64 = 10, parameters: [String: String] = [:], source: String? = nil)
        -> CSI.CreateVolumeRequest {
        CSI.CreateVolumeRequest(
            name: name, capacityRange: .init(requiredBytes: gib << 30), volumeCapabilities: [mount], parameters: parameters,
            volumeContentSource: source.map { .init(type: .snapshot(.init(snapshotId: $0))) })
    }

    @Test("CreateVolume rounds up to whole GiB (R12) and reports the zone and Everest attributes")
    func createVolume() throws {
        let (controller, dir) = try Self.service()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var request = Self.create("pvc-1", parameters: ["everest.io/disk-volume-type": "SSD"])
        request.capacityRange = .init(requiredBytes: (3 << 30) / 2)
        let volume = try #require(try controller.createVolume(request).volume)
        #expect(volume.capacityBytes == 2 << 30)
        #expect(volume.volumeContext["everest.io/disk-volume-type"] == "SSD")
        #expect(volume.accessibleTopology == [CSI.Topology(segments: ["topology.kubernetes.io/zone": "cn-north-4a"])])
        // Idempotent by name.
        #expect(try controller.createVolume(request).volume?.volumeId == volume.volumeId)
    }

    @Test("a PVC annotation overrides the StorageClass parameter, so the seed's SSD restore passes R8")
    func annotationsWin() throws {
        let pvcs = PVCs(table: ["apps/data-ssd": ["everest.io/disk-volume-type": "SSD"],
                                "apps/data-ssd-restore": ["everest.io/disk-volume-type": "SSD"]])
        let (controller, dir) = try Self.service(annotations: pvcs)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let classParameters = ["everest.io/disk-volume-type": "SAS", "csi.storage.k8s.io/pvc/namespace": "apps"]
        var parameters = classParameters
        parameters["csi.storage.k8s.io/pvc/name"] = "data-ssd"
        let source = try #require(try controller.createVolume(Self.create("pvc-src", parameters: parameters)).volume)
        #expect(source.volumeContext["everest.io/disk-volume-type"] == "SSD")
        let snapshot = try #require(try controller.createSnapshot(.init(sourceVolumeId: source.volumeId, name: "snap-1")).snapshot)
        parameters["csi.storage.k8s.io/pvc/name"] = "data-ssd-restore"
        let restored = try controller.createVolume(Self.create("pvc-restore", parameters: parameters, source: snapshot.snapshotId))
        #expect(restored.volume?.contentSource?.type == .snapshot(.init(snapshotId: snapshot.snapshotId)))
        // Without the annotation the class says SAS: R8 refuses.
        parameters["csi.storage.k8s.io/pvc/name"] = "no-annotations"
        let error = #expect(throws: BackendError.self) {
            try controller.createVolume(Self.create("pvc-restore-2", parameters: parameters, source: snapshot.snapshotId))
        }
        #expect(error.map { StatusMapping.status(for: $0).message.hasPrefix("R8: restored disk type SAS differs") } == true)
    }

    @Test("a volume content source (cloning) is INVALID_ARGUMENT (R7)")
    func cloneRefused() throws {
        let (controller, dir) = try Self.service()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var request = Self.create("clone")
        request.volumeContentSource = .init(type: .volume(.init(volumeId: "v")))
        let error = #expect(throws: EverestRuleViolation.cloneNotSupported(sourceVolume: "v")) { try controller.createVolume(request) }
        #expect(error.map { StatusMapping.status(for: $0).code } == .invalidArgument)
    }

    @Test("multi-node access needs a shared disk")
    func multiNodeNeedsShared() throws {
        let (controller, dir) = try Self.service()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var request = Self.create("multi")
        request.volumeCapabilities = [.init(accessType: .mount(.init()), accessMode: .init(mode: .multiNodeMultiWriter))]
        #expect(throws: DriverError.self) { try controller.createVolume(request) }
        request.parameters = ["everest.io/disk-shared": "true"]
        #expect(try controller.createVolume(request).volume?.volumeContext["everest.io/disk-shared"] == "true")
    }

    @Test("ListSnapshots with a foreign token maps to ABORTED; negative max_entries to INVALID_ARGUMENT")
    func listTokens() throws {
        let (controller, dir) = try Self.service()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let error = #expect(throws: (any Error).self) { try controller.listSnapshots(.init(startingToken: "not-a-token")) }
        #expect(error.map { StatusMapping.status(for: $0).code } == .aborted)
        let negative = #expect(throws: (any Error).self) { try controller.listSnapshots(.init(maxEntries: -1)) }
        #expect(negative.map { StatusMapping.status(for: $0).code } == .invalidArgument)
    }
}
