import CSIMessages
import EVSEmulator
import EVSSnapshotRules
import Foundation
import Logging
import RPCServer
import Testing

@testable import CSIDriver

/// Every int64 (and int32) a request carries gets a precise status and never traps (issue 9): capacities of
/// CreateVolume, ControllerExpandVolume and NodeExpandVolume, ListVolumes' and ListSnapshots' max_entries and
/// starting tokens, over the whole range. Each outcome is checked against an oracle computed in Int128.
@Suite("Wire integers (property tests)", .serialized)
struct WireIntegerPropertyTests {
    static let gib: Int128 = 1 << 30

    /// INT64_MIN, negatives, 0, 1, every k·2^30 and its neighbours for k in 0...32770 (R12's range and past
    /// it), every 2^n·2^30 ± 1 up to INT64_MAX, and INT64_MAX itself.
    static let int64Values: [Int64] = {
        var values: Set<Int64> = [.min, .min + 1, -(1 << 62), -(1 << 30), -2, -1, 0, 1, 2, .max - 1, .max,
                                  9_223_372_036_854_775_802]
        for k in Int64(0)...32770 {
            for delta: Int64 in [-1, 0, 1] {
                values.insert(k << 30 + delta)
                values.insert(-(k << 30) + delta)
            }
        }
        for n in 0...33 {
            let base = Int64(1) << (30 + n)  // 2^(30+n); at n = 33 the bit falls off: INT64_MIN
            for delta: Int64 in [-1, 0, 1] { values.insert(base &+ delta) }
        }
        return values.sorted()
    }()

    /// A smaller set for pairs and for calls that touch the disk: the extremes, and k·2^30 ± 1 for the k where
    /// outcomes change.
    static let int64Boundaries: [Int64] = {
        var values: Set<Int64> = [.min, .min + 1, -(1 << 30), -1, 0, 1, .max - 1, .max, 9_223_372_036_854_775_802]
        let ks: [Int64] = [1, 2, 3, 1024, 16384, 32767, 32768, 32769, 1 << 20, 1 << 32, (1 << 33) - 1]
        for k in ks { for delta: Int64 in [-1, 0, 1] { values.insert(k << 30 + delta) } }
        return values.sorted()
    }()

    /// For calls that reach the emulator: the boundaries, plus every 512th multiple of 2^30 (± 1, and negated)
    /// up to 32770 GiB and every 2^n·2^30 ± 1: a few hundred values, ascending.
    static let serviceValues: [Int64] = {
        var values = Set(int64Boundaries)
        for k in stride(from: Int64(0), through: 32770, by: 512) {
            for delta: Int64 in [-1, 0, 1] { values.insert(k << 30 + delta); values.insert(-(k << 30) + delta) }
        }
        for n in 0...32 { for delta: Int64 in [-1, 1] { values.insert((Int64(1) << (30 + n)) &+ delta) } }
        return values.sorted()
    }()

    static let int32Values: [Int32] = {
        var values: Set<Int32> = [.min, .min + 1, -65536, -2, -1, 0, 1, 2, 3, 100, 65536, .max - 1, .max]
        for n in 0...30 { values.insert(Int32(1) << n); values.insert(-(Int32(1) << n)) }
        return values.sorted()
    }()

    enum Outcome: Equatable { case gib(Int), error(RPCStatusCode) }

    /// The oracle for a capacity range (CSI semantics, R12's 1...32768 GiB), in Int128 so nothing overflows.
    static func expected(required: Int64, limit: Int64, defaultGiB: Int) -> Outcome {
        if required < 0 || limit < 0 { return .error(.invalidArgument) }
        if limit > 0 && required > limit { return .error(.invalidArgument) }
        let r = Int128(required), l = Int128(limit)
        let g: Int128
        if r > 0 {
            g = (r + gib - 1) / gib
        } else if l > 0 {
            if Int128(defaultGiB) * gib <= l { return .gib(defaultGiB) }
            g = l / gib
        } else {
            return .gib(defaultGiB)
        }
        if l > 0 && g * gib > l { return .error(.outOfRange) }
        if g < 1 || g > 32768 { return .error(.outOfRange) }
        return .gib(Int(g))
    }

    static func outcome(_ body: () throws -> Int) -> (Outcome, String) {
        do { return (.gib(try body()), "") } catch {
            let status = StatusMapping.status(for: error)
            return (.error(status.code), status.message)
        }
    }

    static func backend() throws -> (EVSEmulator, String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wire-int-\(UUID().uuidString)").path
        return (try EVSEmulator(configuration: EmulatorConfiguration(stateDirectory: dir, durableWrites: false)), dir)
    }

    static let mount = CSI.VolumeCapability(accessType: .mount(.init(fsType: "ext4")), accessMode: .init(mode: .singleNodeWriter))

    @Test("capacity ranges: every (required, limit) pair of the int64 set gets the oracle's GiB or status")
    func capacityRangeOracle() throws {
        var checked = 0
        // Every value as required_bytes with no limit, and as limit_bytes with no requirement.
        for value in Self.int64Values {
            for (required, limit) in [(value, Int64(0)), (Int64(0), value), (value, value)] {
                for defaultGiB in [1] {
                    let want = Self.expected(required: required, limit: limit, defaultGiB: defaultGiB)
                    let (got, message) = Self.outcome {
                        try RequestValidation.capacityGiB(.init(requiredBytes: required, limitBytes: limit), defaultGiB: defaultGiB)
                    }
                    if got != want {
                        Issue.record("required \(required) limit \(limit) default \(defaultGiB): got \(got), want \(want): \(message)")
                    } else if case .error = got, !(message.contains("\(required)") && message.contains("\(limit)")) {
                        Issue.record("the values are missing from the message: \(message)")
                    }
                    checked += 1
                }
            }
        }
        // Every pair of boundary values, with the default sizes of a new disk and of a restore or expansion.
        for required in Self.int64Boundaries {
            for limit in Self.int64Boundaries { for defaultGiB in [1, 10, 32768] {
                let want = Self.expected(required: required, limit: limit, defaultGiB: defaultGiB)
                let (got, message) = Self.outcome {
                    try RequestValidation.capacityGiB(.init(requiredBytes: required, limitBytes: limit), defaultGiB: defaultGiB)
                }
                if got != want { Issue.record("required \(required) limit \(limit): got \(got), want \(want): \(message)") }
                checked += 1
            } }
        }
        print("capacity range oracle: \(checked) cases")
        #expect(checked > 500_000)
    }

    @Test("CreateVolume over the emulator: the issue's crashing ranges and every boundary pair answer, never trap")
    func createVolume() throws {
        let (backend, dir) = try Self.backend()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let controller = ControllerService(backend: backend, driverName: EverestNames.driverName, annotations: nil,
                                           logger: Logger(label: "test"))
        var checked = 0, created = 0
        let pairs = Self.int64Boundaries.flatMap { r in Self.int64Boundaries.map { (r, $0) } }
            + Self.serviceValues.flatMap { [($0, Int64(0)), (Int64(0), $0)] }
        for (required, limit) in pairs {
            do {
                let want = Self.expected(required: required, limit: limit, defaultGiB: 1)
                let name = "pvc-\(checked)"
                let request = CSI.CreateVolumeRequest(
                    name: name, capacityRange: .init(requiredBytes: required, limitBytes: limit), volumeCapabilities: [Self.mount])
                do {
                    let volume = try #require(try controller.createVolume(request).volume)
                    created += 1
                    // The host file system may not hold the largest sparse images (ext4: 16 TiB - 4 KiB), see below.
                    #expect(want == .gib(Int(volume.capacityBytes >> 30)), "required \(required) limit \(limit)")
                    _ = try controller.deleteVolume(.init(volumeId: volume.volumeId))
                } catch {
                    let status = StatusMapping.status(for: error)
                    if case .gib(let g) = want {
                        // Only the host's file size limit may refuse a valid size, as RESOURCE_EXHAUSTED.
                        #expect(status.code == .resourceExhausted && g >= 16384, "required \(required) limit \(limit): \(status)")
                    } else {
                        #expect(want == .error(status.code), "required \(required) limit \(limit): \(status)")
                    }
                }
                checked += 1
            }
        }
        #expect(try controller.listVolumes(.init()).entries.isEmpty)
        print("CreateVolume property: \(checked) calls, \(created) created")
    }

    @Test("ControllerExpandVolume and NodeExpandVolume: every int64 of the set as required and limit bytes")
    func expandVolume() throws {
        let (backend, dir) = try Self.backend()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let controller = ControllerService(backend: backend, driverName: EverestNames.driverName, annotations: nil,
                                           logger: Logger(label: "test"))
        let node = NodeService(nodeID: "node-1", zone: "cn-north-4a", maxVolumesPerNode: 59, locator: backend)
        let volume = try #require(try controller.createVolume(
            .init(name: "pvc-grow", capacityRange: .init(requiredBytes: 1 << 30), volumeCapabilities: [Self.mount])).volume)
        var current = 1
        var checked = 0
        // Ascending, so a valid size grows the disk step by step (sparse: growing writes nothing).
        for (required, limit) in Self.serviceValues.flatMap({ [($0, Int64(0)), (Int64(0), $0), ($0, $0)] }) {
            let want = Self.expected(required: required, limit: limit, defaultGiB: current)
            let range = CSI.CapacityRange(requiredBytes: required, limitBytes: limit)
            do {
                let response = try controller.expandVolume(.init(volumeId: volume.volumeId, capacityRange: range))
                let gib = Int(response.capacityBytes >> 30)
                if case .gib(let g) = want { #expect(gib == max(g, current), "required \(required) limit \(limit)") }
                else { Issue.record("required \(required) limit \(limit): OK \(gib) GiB, expected \(want)") }
                current = gib
            } catch {
                let status = StatusMapping.status(for: error)
                if case .gib(let g) = want {
                    #expect(status.code == .resourceExhausted && g >= 16384, "required \(required) limit \(limit): \(status)")
                } else {
                    #expect(want == .error(status.code), "required \(required) limit \(limit): \(status)")
                }
            }
            checked += 1
            // NodeExpandVolume checks the range the same way; a valid one then finds the volume not staged.
            do {
                _ = try node.expand(.init(volumeId: volume.volumeId, volumePath: "/nonexistent/evssnap-expand", capacityRange: range))
                Issue.record("NodeExpandVolume of an unstaged volume succeeded")
            } catch {
                let code = StatusMapping.status(for: error).code
                let rangeInvalid = required < 0 || limit < 0 || (limit > 0 && required > limit)
                #expect(code == (rangeInvalid ? .invalidArgument : .failedPrecondition), "node: required \(required) limit \(limit)")
            }
            checked += 1
        }
        print("expand property: \(checked) calls")
    }

    @Test("ListVolumes and ListSnapshots: every int32 max_entries, and tokens of every int64")
    func listings() throws {
        let (backend, dir) = try Self.backend()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let controller = ControllerService(backend: backend, driverName: EverestNames.driverName, annotations: nil,
                                           logger: Logger(label: "test"))
        for i in 0..<3 {
            let volume = try #require(try controller.createVolume(
                .init(name: "pvc-\(i)", capacityRange: .init(requiredBytes: 1 << 30), volumeCapabilities: [Self.mount])).volume)
            _ = try controller.createSnapshot(.init(sourceVolumeId: volume.volumeId, name: "snap-\(i)"))
        }
        var checked = 0
        for maxEntries in Self.int32Values {
            let lists: [() throws -> Int] = [
                { try controller.listVolumes(.init(maxEntries: maxEntries)).entries.count },
                { try controller.listSnapshots(.init(maxEntries: maxEntries)).entries.count },
            ]
            for list in lists {
                do {
                    let count = try list()
                    #expect(maxEntries >= 0 && count == (maxEntries == 0 ? 3 : min(3, Int(maxEntries))), "max_entries \(maxEntries)")
                } catch {
                    let status = StatusMapping.status(for: error)
                    #expect(maxEntries < 0 && status.code == .invalidArgument && status.message.contains("\(maxEntries)"),
                            "max_entries \(maxEntries): \(status)")
                }
                checked += 1
            }
        }
        let tokenValues = Self.serviceValues + [3, 4, 5]
        for seq in tokenValues {
            for token in ["evs1-\(seq)", "\(seq)", "evs1-\(seq)0"] {
                let lists: [() throws -> Int] = [
                    { try controller.listVolumes(.init(startingToken: token)).entries.count },
                    { try controller.listSnapshots(.init(startingToken: token)).entries.count },
                ]
                for list in lists {
                    do {
                        let count = try list()
                        #expect(token.hasPrefix("evs1-") && count <= 3, "token \(token)")
                    } catch {
                        #expect(StatusMapping.status(for: error).code == .aborted, "token \(token)")
                    }
                    checked += 1
                }
            }
        }
        print("listing property: \(checked) calls")
    }
}
