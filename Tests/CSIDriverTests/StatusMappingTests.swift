import CSIMessages
import EVSSnapshotRules
import Foundation
import NodeOps
import RPCServer
import Testing

@testable import CSIDriver

/// The one error → gRPC mapping, checked against EVEREST.md's table, one row per situation.
@Suite("StatusMapping")
struct StatusMappingTests {
    struct Row: CustomStringConvertible, Sendable {
        let error: any Error & Sendable
        let code: RPCStatusCode
        let messageContains: String
        var description: String { "\(error) -> \(code)" }
    }

    static let disk: DiskID = "d-1a2b"
    static let snap: SnapshotID = "s-9"

    static let rows: [Row] = [
        // EVEREST.md "Error mapping (CSI side)"
        Row(error: DriverError.missingField("CreateVolumeRequest.name"), code: .invalidArgument, messageContains: "name is required"),
        Row(error: BackendError.notFound(kind: "snapshot", id: "s-9"), code: .notFound, messageContains: "s-9"),
        Row(error: BackendError.alreadyExists(name: "snap", detail: "other source"), code: .alreadyExists, messageContains: "snap"),
        Row(error: EverestRuleViolation.diskNotSnapshottable(disk: disk, status: .creating), code: .failedPrecondition,
            messageContains: "R4"),
        Row(error: BackendError.rule(.snapshotNotReady(snapshot: snap, status: .creating)), code: .failedPrecondition,
            messageContains: "R11"),
        Row(error: BackendError.rule(.diskHasSnapshots(disk: disk, count: 2)), code: .failedPrecondition, messageContains: "R13"),
        // R5 is FAILED_PRECONDITION: csi-snapshotter retries RESOURCE_EXHAUSTED as "may still be in progress".
        Row(error: BackendError.rule(.snapshotQuotaReached(disk: disk, count: 7, limit: 7)), code: .failedPrecondition,
            messageContains: "R5"),
        Row(error: BackendError.rule(.diskAttached(disk: disk, nodes: ["node-2"])), code: .failedPrecondition,
            messageContains: "R13: disk is attached to node node-2"),
        Row(error: BackendError.rule(.capacityDiffers(requestedGiB: 20, sourceGiB: 10, match: .equal, disk: disk)),
            code: .outOfRange, messageContains: "R8"),
        Row(error: BackendError.rule(.typeDiffers(requested: .sas, source: .ssd, disk: disk)), code: .invalidArgument,
            messageContains: "R8: restored disk type SAS differs from source disk type SSD (disk d-1a2b)"),
        Row(error: BackendError.rule(.modeDiffers(requested: .scsi, source: .vbd, disk: disk)), code: .invalidArgument,
            messageContains: "R8"),
        Row(error: BackendError.rule(.encryptionDiffers(requested: .plain, source: .kms(keyID: "k"), disk: disk)),
            code: .invalidArgument, messageContains: "R8"),
        Row(error: BackendError.rule(.sharingDiffers(requested: .shared, source: .nonShared, disk: disk)),
            code: .invalidArgument, messageContains: "R8"),
        Row(error: BackendError.rule(.zoneNotAllowed(zone: "cn-north-4a", allowed: ["cn-north-4b"], snapshot: snap)),
            code: .resourceExhausted, messageContains: "R9"),
        Row(error: DriverError.operationPending(key: "volume:v1"), code: .aborted, messageContains: "volume:v1"),
        Row(error: EverestRuleViolation.operationInFlight(key: "snapshot-name:s"), code: .aborted, messageContains: "s"),
        // Driver-level and backend vocabulary
        Row(error: BackendError.invalidToken("zzz"), code: .aborted, messageContains: "zzz"),
        Row(error: BackendError.busy("disk d-1 is attached to node-2"), code: .failedPrecondition, messageContains: "node-2"),
        Row(error: BackendError.limitExceeded("node n has 59 disks"), code: .resourceExhausted, messageContains: "59"),
        Row(error: BackendError.topologyUnavailable(requested: ["z9"], available: ["z1"]), code: .resourceExhausted,
            messageContains: "z9"),
        Row(error: BackendError.storage("fsync failed"), code: .internal, messageContains: "fsync"),
        Row(error: EverestRuleViolation.capacityOutOfRange(requestedGiB: 32769, min: 1, max: 32768), code: .outOfRange,
            messageContains: "R12"),
        Row(error: EverestRuleViolation.nameTooLong(name: "x", length: 129, max: 128), code: .invalidArgument,
            messageContains: "R14"),
        Row(error: EverestRuleViolation.cloneNotSupported(sourceVolume: "v-1"), code: .invalidArgument,
            messageContains: "R7: cloning volume v-1"),
        Row(error: EverestRuleViolation.restoreTargetExists(name: "p"), code: .alreadyExists, messageContains: "R7"),
        Row(error: EverestRuleViolation.snapshotNotFound(snapshot: snap), code: .notFound, messageContains: "R11"),
        Row(error: DriverError.capacityOutOfRange("too big"), code: .outOfRange, messageContains: "too big"),
        Row(error: DriverError.deadlineExceeded, code: .deadlineExceeded, messageContains: "deadline"),
        Row(error: CSIDecodeError.invalidUTF8(field: "CreateVolumeRequest.name"), code: .invalidArgument,
            messageContains: "CreateVolumeRequest.name"),
        Row(error: CSIDecodeError.malformed(message: "CreateVolumeRequest"), code: .invalidArgument, messageContains: "malformed"),
        Row(error: CSIDecodeError.embeddedNUL(field: "CreateVolumeRequest.name"), code: .invalidArgument,
            messageContains: "NUL"),
        // CSI's ListVolumes/ListSnapshots tables: an invalid starting_token is ABORTED, whatever makes it invalid.
        Row(error: CSIDecodeError.embeddedNUL(field: "ListSnapshotsRequest.starting_token"), code: .aborted,
            messageContains: "starting_token"),
        Row(error: CSIDecodeError.invalidUTF8(field: "ListVolumesRequest.starting_token"), code: .aborted,
            messageContains: "starting_token"),
        // Node side
        Row(error: NodeOpsError.notMounted(path: "/staging"), code: .failedPrecondition, messageContains: "/staging"),
        Row(error: NodeOpsError.alreadyInUseElsewhere(path: "/t", by: "/dev/loop3"), code: .alreadyExists, messageContains: "/t"),
        Row(error: NodeOpsError.fsMismatch(device: "/dev/loop1", found: "xfs", wanted: "ext4"), code: .failedPrecondition,
            messageContains: "xfs"),
        Row(error: NodeOpsError.notFound(path: "/img"), code: .notFound, messageContains: "/img"),
        Row(error: NodeOpsError.unsupportedFileSystem("btrfs"), code: .invalidArgument, messageContains: "btrfs"),
        Row(error: NodeOpsError.commandFailed(command: "mkfs.ext4", stderr: "boom", status: 1), code: .internal,
            messageContains: "boom"),
        Row(error: RPCStatus(code: .unavailable, message: "x"), code: .unavailable, messageContains: "x"),
    ]

    @Test("each error maps to the code EVEREST.md gives it, and the message keeps the rule id and values", arguments: rows)
    func mapping(row: Row) {
        let status = StatusMapping.status(for: row.error)
        #expect(status.code == row.code)
        #expect(status.message.contains(row.messageContains), "\(status.message)")
    }

    @Test("an error of an unknown type is INTERNAL with its text")
    func unknownError() {
        struct Weird: Error, CustomStringConvertible { var description: String { "weird thing" } }
        let status = StatusMapping.status(for: Weird())
        #expect(status.code == .internal)
        #expect(status.message.contains("weird thing"))
    }

    static let kinds: [(RefusalKind, RPCStatusCode)] = [
        (.invalidRequest, .invalidArgument), (.outOfRange, .outOfRange), (.notFound, .notFound),
        (.alreadyExists, .alreadyExists), (.stateConflict, .failedPrecondition), (.notPlaceable, .resourceExhausted),
        (.inProgress, .aborted),
    ]

    @Test("every refusal kind of the domain has its gRPC code (EVEREST.md's table), here and only here", arguments: kinds)
    func kindCodes(kind: RefusalKind, code: RPCStatusCode) {
        #expect(StatusMapping.code(for: kind) == code)
        #expect(Self.kinds.count == RefusalKind.allCases.count)
    }
}

@Suite("InFlight")
struct InFlightTests {
    @Test("a second call on a key in flight is ABORTED; other keys run; keys are released even on error")
    func guardKeys() throws {
        let inFlight = InFlight()
        try inFlight.run(["volume:a"]) {
            #expect(throws: DriverError.operationPending(key: "volume:a")) {
                try inFlight.run(["volume:a"]) {}
            }
            try inFlight.run(["volume:b"]) { #expect(inFlight.count == 2) }
        }
        #expect(inFlight.count == 0)
        struct Boom: Error {}
        #expect(throws: Boom.self) { try inFlight.run(["volume:a"]) { throw Boom() } }
        #expect(inFlight.count == 0)
        try inFlight.run(["volume:a"]) {}
    }

    @Test("a refused call holds none of its keys")
    func refusedHoldsNothing() throws {
        let inFlight = InFlight()
        try inFlight.run(["x"]) {
            #expect(throws: DriverError.self) { try inFlight.run(["y", "x"]) {} }
            #expect(inFlight.count == 1)
            try inFlight.run(["y"]) {}
        }
    }
}
