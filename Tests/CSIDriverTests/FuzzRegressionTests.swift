import CSIMessages
import EVSEmulator
import EVSSnapshotRules
import Foundation
import Logging
import RPCServer
import Testing

@testable import CSIDriver

/// Inputs that once crashed a fuzz target (Tests/fuzz/corpus/<target>/regress-*), each replayed here with the
/// precise answer the driver owes (`make test-fuzz-corpus` also replays them through the fuzz targets).
@Suite("Fuzz regressions")
struct FuzzRegressionTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../fuzz/corpus").standardized

    /// The request of a one-call fuzz-services input: `[method][length, 2 bytes LE][request]`.
    static func servicesInput<M: CSIMessage>(_ name: String, as _: M.Type) throws -> M {
        let bytes = [UInt8](try Data(contentsOf: corpus.appendingPathComponent("fuzz-services/\(name)")))
        try #require(bytes.count >= 3)
        let length = Int(bytes[1]) | Int(bytes[2]) << 8
        return try M(serializedBytes: Array(bytes[3..<min(bytes.count, 3 + length)]))
    }

    /// fuzz-services, first run: `capacity_range {required_bytes: INT64_MAX, limit_bytes: INT64_MAX}` rounded up to
    /// 8,589,934,592 GiB, whose byte count overflowed Int64 in R12's limit check: "arithmetic overflow", the driver
    /// died (issue 9). Now OUT_OF_RANGE naming the GiB asked and the allowed range.
    @Test("regress-CreateVolume-int64-max: CreateVolume with required = limit = INT64_MAX is OUT_OF_RANGE (R12), no trap")
    func createVolumeInt64Max() throws {
        let request = try Self.servicesInput("regress-CreateVolume-int64-max", as: CSI.CreateVolumeRequest.self)
        #expect(request.capacityRange == CSI.CapacityRange(requiredBytes: .max, limitBytes: .max))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-regress-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let backend = try EVSEmulator(configuration: EmulatorConfiguration(stateDirectory: dir, durableWrites: false))
        let controller = ControllerService(backend: backend, driverName: EverestNames.driverName, annotations: nil,
                                           logger: Logger(label: "test"))
        let error = #expect(throws: (any Error).self) { try controller.createVolume(request) }
        let status = try #require(error.map { StatusMapping.status(for: $0) })
        #expect(status.code == .outOfRange, "\(status)")
        #expect(status.message.contains("8589934592"), "\(status.message)")
    }
}
