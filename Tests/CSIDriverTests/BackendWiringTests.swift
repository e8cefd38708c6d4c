import CSIMessages
import EVSEmulator
import EVSSnapshotRules
import Foundation
import Logging
import Testing

@testable import CSIDriver

/// The services reach storage only through `BlockStorageBackend` and `NodeDiskLocator`; the executable picks it.
@Suite("Backend wiring")
struct BackendWiringTests {
    static func configuration(_ mode: DriverConfiguration.Mode) -> DriverConfiguration {
        DriverConfiguration(endpoint: "unix://" + FileManager.default.temporaryDirectory.path + "/wiring-\(UUID().uuidString).sock",
                            nodeID: "node-1", mode: mode, stateDirectory: "/nonexistent")
    }

    @Test("a Controller service without a backend, or a Node service without a locator, is a configuration error")
    func missingStorage() {
        let logger = Logger(label: "test")
        for mode in [DriverConfiguration.Mode.controller, .all] {
            #expect(throws: Driver.StartError.self) {
                _ = try Driver(configuration: Self.configuration(mode), backend: nil, locator: EmulatorNodeLocator(), logger: logger)
            }
        }
        #expect(throws: Driver.StartError.self) {
            _ = try Driver(configuration: Self.configuration(.node), backend: nil, locator: nil, logger: logger)
        }
        #expect(throws: Never.self) {
            _ = try Driver(configuration: Self.configuration(.node), backend: nil, locator: EmulatorNodeLocator(), logger: logger)
        }
    }

    @Test("the Node service over the emulator: an unknown volume is NOT_FOUND, a known one is its image file")
    func emulatorLocator() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wiring-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let emulator = try EVSEmulator(configuration: EmulatorConfiguration(stateDirectory: dir))
        let disk = try emulator.createDisk(name: "d", spec: DiskSpec(capacityGiB: 1), source: nil)
        let node = NodeService(nodeID: "n", zone: "z", maxVolumesPerNode: 59, locator: emulator)
        #expect(try node.imagePath(disk.id.rawValue, publishContext: [:]) == emulator.diskImagePath(disk.id))
        let error = #expect(throws: BackendError.self) { _ = try node.imagePath("nope", publishContext: [:]) }
        #expect(error.map { StatusMapping.status(for: $0).code } == .notFound)
        #expect(emulator.isDevicePath(emulator.diskImagePath(disk.id), of: disk.id))
    }

    @Test("a node-only process takes the path from the publish context and knows the emulator's image names")
    func nodeOnlyLocator() throws {
        let node = NodeService(nodeID: "n", zone: "z", maxVolumesPerNode: 59, locator: EmulatorNodeLocator())
        #expect(try node.imagePath("v-1", publishContext: [PublishContextKey.devicePath: "/state/disks/v-1.img"]) == "/state/disks/v-1.img")
        #expect(throws: DriverError.self) { _ = try node.imagePath("v-1", publishContext: [:]) }
        #expect(EmulatorNodeLocator().isDevicePath("/state/disks/v-1.img", of: "v-1"))
        #expect(!EmulatorNodeLocator().isDevicePath("/state/disks/v-10.img", of: "v-1"))
    }
}
