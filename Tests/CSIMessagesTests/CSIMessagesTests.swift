import Testing
@testable import CSIMessages

// MARK: - helpers

/// Minimal protobuf writer for hand-made payloads (tag, length, bytes).
private func field(_ number: Int, _ body: [UInt8]) -> [UInt8] {
    varint(UInt64(number << 3 | 2)) + varint(UInt64(body.count)) + body
}

private func varintField(_ number: Int, _ value: UInt64) -> [UInt8] {
    varint(UInt64(number << 3)) + varint(value)
}

private func varint(_ value: UInt64) -> [UInt8] {
    var v = value
    var out: [UInt8] = []
    repeat {
        var b = UInt8(v & 0x7F)
        v >>= 7
        if v != 0 { b |= 0x80 }
        out.append(b)
    } while v != 0
    return out
}

private func roundTrips<M: CSIMessage>(_ message: M) throws -> (equal: Bool, sameBytes: Bool) {
    let bytes = message.serializedBytes()
    let decoded = try M(serializedBytes: bytes)
    return (decoded == message, decoded.serializedBytes() == bytes)
}

private func countingDecode(_ type: any CSIMessage.Type, _ bytes: [UInt8]) -> (AllocationCounter, Result<Void, CSIDecodeError>) {
    let generated = type as! any CSIGeneratedMessage.Type
    let counter = AllocationCounter()
    do {
        _ = try generated.decodeCounting(bytes, counter: counter)
        return (counter, .success(()))
    } catch {
        return (counter, .failure(error))
    }
}

private let allMessageNames = CSIMessageRegistry.types.keys.sorted()

// MARK: - round trips

@Suite("Round trips")
struct RoundTripTests {
    @Test("every message kind survives encode/decode with every field set", arguments: allMessageNames, [0, 1])
    func sampleRoundTrip(name: String, variant: Int) throws {
        let sample = try #require(CSIMessageRegistry.sample(name, variant: variant))
        let result = try roundTrips(sample)
        #expect(result.equal, "\(name) variant \(variant) changed in a round trip")
        #expect(result.sameBytes)
    }

    @Test("samples of messages with fields encode to non-empty bytes", arguments: allMessageNames)
    func samplesAreNotEmpty(name: String) throws {
        let sample = try #require(CSIMessageRegistry.sample(name))
        let hasFields = sample.redactedDescription != "\(name.split(separator: ".").last!)()"
        #expect(sample.serializedBytes().isEmpty == !hasFields)
    }

    @Test("the registry covers all 78 generated messages (map entries excluded)")
    func registrySize() {
        #expect(CSIMessageRegistry.types.count == 78)
        #expect(CSIMessageRegistry.sample("NoSuchMessage") == nil)
    }

    @Test("known bytes: CapacityRange and Timestamp inside Snapshot")
    func knownBytes() throws {
        #expect(CSI.CapacityRange(requiredBytes: 1, limitBytes: 2).serializedBytes() == [0x08, 0x01, 0x10, 0x02])
        let snap = CSI.Snapshot(creationTime: CSI.Timestamp(seconds: 5, nanos: 6))
        #expect(snap.serializedBytes() == [0x22, 0x04, 0x08, 0x05, 0x10, 0x06])
        #expect(try CSI.Snapshot(serializedBytes: [0x22, 0x00]).creationTime == CSI.Timestamp())
    }

    @Test("wrapper presence: absent, false and true are three different values")
    func boolValuePresence() throws {
        #expect(CSI.ProbeResponse().serializedBytes() == [])
        #expect(CSI.ProbeResponse(ready: false).serializedBytes() == [0x0A, 0x00])
        #expect(try CSI.ProbeResponse(serializedBytes: []).ready == nil)
        #expect(try CSI.ProbeResponse(serializedBytes: [0x0A, 0x00]).ready == false)
        #expect(try CSI.ProbeResponse(serializedBytes: [0x0A, 0x02, 0x08, 0x01]).ready == true)
        #expect(try CSI.GetCapacityResponse(serializedBytes: [0x12, 0x00]).maximumVolumeSize == 0)
        #expect(try CSI.GetCapacityResponse(serializedBytes: []).maximumVolumeSize == nil)
    }

    @Test("oneof: block and mount capabilities decode to their own case")
    func oneofCases() throws {
        let block = CSI.VolumeCapability(accessType: .block(.init()), accessMode: .init(mode: .singleNodeWriter))
        let mount = CSI.VolumeCapability(accessType: .mount(.init(fsType: "xfs", mountFlags: ["noatime"])))
        #expect(try CSI.VolumeCapability(serializedBytes: block.serializedBytes()) == block)
        #expect(try CSI.VolumeCapability(serializedBytes: mount.serializedBytes()) == mount)
        #expect(try CSI.VolumeCapability(serializedBytes: []).accessType == nil)
    }

    @Test("an enum value unknown to this build is kept as unrecognized and re-encoded")
    func unrecognizedEnum() throws {
        let mode = try CSI.VolumeCapability.AccessMode(serializedBytes: varintField(1, 99))
        #expect(mode.mode == .unrecognized(99))
        #expect(mode.mode.rawValue == 99)
        #expect(mode.serializedBytes() == varintField(1, 99))
        #expect(CSI.VolumeCapability.AccessMode.Mode(rawValue: 7) == .singleNodeMultiWriter)
        #expect(CSI.VolumeCapability.AccessMode.Mode.unrecognized(7) == .singleNodeMultiWriter)
        #expect(CSI.VolumeCapability.AccessMode().mode == .unknown)
    }

    @Test("unknown fields are skipped")
    func unknownFieldsIgnored() throws {
        let known = CSI.DeleteSnapshotRequest(snapshotId: "snap-1")
        let bytes = known.serializedBytes() + field(99, Array("future".utf8)) + varintField(98, 7)
        #expect(try CSI.DeleteSnapshotRequest(serializedBytes: bytes) == known)
    }

    @Test("encoding a string that holds a NUL writes it up to the NUL (protobuf-c C strings)")
    func nulOnEncode() throws {
        let bytes = CSI.DeleteVolumeRequest(volumeId: "vol\0hidden").serializedBytes()
        #expect(try CSI.DeleteVolumeRequest(serializedBytes: bytes).volumeId == "vol")
    }

    @Test("map entries are written in key order (deterministic bytes)")
    func deterministicMaps() {
        var a: [String: String] = [:]
        var b: [String: String] = [:]
        for i in 0..<50 { a["k\(i)"] = "v\(i)" }
        for i in (0..<50).reversed() { b["k\(i)"] = "v\(i)" }
        #expect(CSI.GetPluginInfoResponse(manifest: a).serializedBytes() == CSI.GetPluginInfoResponse(manifest: b).serializedBytes())
    }
}

// MARK: - rejected payloads

@Suite("Decode errors")
struct DecodeErrorTests {
    @Test("malformed payloads", arguments: [
        [0x0A, 0x05, 0x61],          // name: length 5, one byte present
        [0x0A],                      // name: length missing
        [0xFF],                      // tag varint cut short
        [0x12, 0x03, 0x08, 0x80],    // capacity_range: inner varint cut short
        [0x0D, 0x00, 0x00, 0x00, 0x00], // name with fixed32 wire type
        [0x0B],                      // group start wire type
    ] as [[UInt8]])
    func malformed(bytes: [UInt8]) {
        #expect(throws: CSIDecodeError.malformed(message: "CreateVolumeRequest")) {
            try CSI.CreateVolumeRequest(serializedBytes: bytes)
        }
    }

    @Test("every truncation of a sample inside its first field is malformed")
    func truncatedSample() throws {
        let bytes = CSI.CreateVolumeRequest.sample(variant: 0).serializedBytes()
        let firstFieldEnd = 2 + Int(bytes[1])
        for cut in 1..<firstFieldEnd {
            #expect(throws: CSIDecodeError.malformed(message: "CreateVolumeRequest")) {
                try CSI.CreateVolumeRequest(serializedBytes: Array(bytes[..<cut]))
            }
        }
        // Cutting anywhere never crashes and never yields the full value.
        for cut in 0..<bytes.count {
            let decoded = try? CSI.CreateVolumeRequest(serializedBytes: Array(bytes[..<cut]))
            #expect(decoded != CSI.CreateVolumeRequest.sample(variant: 0))
        }
    }

    @Test("invalid UTF-8 names the field path", arguments: [
        (field(1, [0x61, 0xFF]), "CreateVolumeRequest.name"),
        (field(4, field(1, [0xC3]) + field(2, Array("v".utf8))), "CreateVolumeRequest.parameters.key"),
        (field(5, field(1, Array("k".utf8)) + field(2, [0xED, 0xA0, 0x80])), "CreateVolumeRequest.secrets.value"),
        (field(3, field(2, field(2, [0x80]))), "CreateVolumeRequest.volume_capabilities.mount.mount_flags"),
        (field(7, field(2, field(1, field(1, [0xFE])))), "CreateVolumeRequest.accessibility_requirements.preferred.segments.key"),
    ])
    func invalidUTF8(bytes: [UInt8], path: String) {
        #expect(throws: CSIDecodeError.invalidUTF8(field: path)) {
            try CSI.CreateVolumeRequest(serializedBytes: bytes)
        }
    }

    @Test("an embedded NUL names the field path", arguments: [
        (field(1, Array("ab\0cd".utf8)), "CreateVolumeRequest.name"),
        (field(4, field(1, Array("k".utf8)) + field(2, [0x76, 0x00])), "CreateVolumeRequest.parameters.value"),
        (field(3, field(2, field(1, [0x00]))), "CreateVolumeRequest.volume_capabilities.mount.fs_type"),
    ])
    func embeddedNUL(bytes: [UInt8], path: String) {
        #expect(throws: CSIDecodeError.embeddedNUL(field: path)) {
            try CSI.CreateVolumeRequest(serializedBytes: bytes)
        }
    }

    @Test("the Timestamp of a snapshot response is reached by the string check too")
    func nestedResponsePath() {
        let bytes = field(1, field(2, [0xFF]))
        #expect(throws: CSIDecodeError.invalidUTF8(field: "CreateSnapshotResponse.snapshot.snapshot_id")) {
            try CSI.CreateSnapshotResponse(serializedBytes: bytes)
        }
    }

    @Test("error descriptions are readable")
    func errorText() {
        #expect("\(CSIDecodeError.invalidUTF8(field: "CreateVolumeRequest.name"))" == "field CreateVolumeRequest.name is not valid UTF-8")
        #expect("\(CSIDecodeError.malformed(message: "ProbeRequest"))" == "malformed ProbeRequest payload")
    }
}

// MARK: - memory

@Suite("protobuf-c memory")
struct MemoryTests {
    @Test("decode frees every block protobuf-c allocated", arguments: allMessageNames)
    func decodeFreesEverything(name: String) throws {
        let sample = try #require(CSIMessageRegistry.sample(name, variant: 1))
        let (counter, result) = countingDecode(CSIMessageRegistry.types[name]!, sample.serializedBytes())
        #expect(throws: Never.self) { try result.get() }
        #expect(counter.total > 0, "the counting allocator was not used")
        #expect(counter.live == 0, "\(counter.live) blocks leaked decoding \(name)")
    }

    @Test("failed decodes free everything too", arguments: [
        field(1, [0x61, 0xFF]),
        field(3, field(2, field(1, [0x00]))) + field(1, Array("ok".utf8)),
        [0x0A, 0x05, 0x61],
        CSI.CreateVolumeRequest.sample(variant: 0).serializedBytes().dropLast(3).map { $0 },
    ])
    func failedDecodeFrees(bytes: [UInt8]) {
        let (counter, result) = countingDecode(CSI.CreateVolumeRequest.self, bytes)
        #expect(throws: CSIDecodeError.self) { try result.get() }
        #expect(counter.live == 0)
    }

    @Test("large messages: 2000 map entries and 500 capabilities")
    func largeMessage() throws {
        var params: [String: String] = [:]
        for i in 0..<2000 { params["key-\(i)"] = String(repeating: "x", count: i % 50) }
        let caps = (0..<500).map { CSI.VolumeCapability(accessType: .mount(.init(fsType: "ext4-\($0)")), accessMode: .init(mode: .multiNodeMultiWriter)) }
        let request = CSI.CreateVolumeRequest(name: "big", volumeCapabilities: caps, parameters: params)
        let (counter, result) = countingDecode(CSI.CreateVolumeRequest.self, request.serializedBytes())
        #expect(throws: Never.self) { try result.get() }
        #expect(counter.live == 0)
        #expect(try CSI.CreateVolumeRequest(serializedBytes: request.serializedBytes()) == request)
    }
}

// MARK: - redaction

@Suite("Redaction")
struct RedactionTests {
    static let secretCarriers: [any CSIMessage] = [
        CSI.CreateVolumeRequest(name: "pvc-1", parameters: ["type": "SSD"], secrets: ["password": "hunter2"]),
        CSI.DeleteVolumeRequest(volumeId: "v", secrets: ["password": "hunter2"]),
        CSI.ControllerPublishVolumeRequest(volumeId: "v", secrets: ["password": "hunter2"]),
        CSI.ControllerUnpublishVolumeRequest(volumeId: "v", secrets: ["password": "hunter2"]),
        CSI.ValidateVolumeCapabilitiesRequest(volumeId: "v", secrets: ["password": "hunter2"]),
        CSI.ControllerModifyVolumeRequest(volumeId: "v", secrets: ["password": "hunter2"]),
        CSI.CreateSnapshotRequest(sourceVolumeId: "v", secrets: ["password": "hunter2"]),
        CSI.DeleteSnapshotRequest(snapshotId: "s", secrets: ["password": "hunter2"]),
        CSI.ListSnapshotsRequest(secrets: ["password": "hunter2"]),
        CSI.GetSnapshotRequest(snapshotId: "s", secrets: ["password": "hunter2"]),
        CSI.ControllerExpandVolumeRequest(volumeId: "v", secrets: ["password": "hunter2"]),
        CSI.NodeStageVolumeRequest(volumeId: "v", secrets: ["password": "hunter2"]),
        CSI.NodePublishVolumeRequest(volumeId: "v", secrets: ["password": "hunter2"]),
        CSI.NodeExpandVolumeRequest(volumeId: "v", secrets: ["password": "hunter2"]),
    ]

    @Test("every csi_secret field shows its keys with values ***", arguments: 0..<14)
    func secretsRedacted(index: Int) {
        let message = Self.secretCarriers[index]
        for text in [message.redactedDescription, "\(message)", String(describing: message)] {
            #expect(text.contains("secrets: [\"password\": ***]"), "\(text)")
            #expect(!text.contains("hunter2"), "\(text)")
        }
    }

    @Test("non-secret maps keep their values; the line is readable")
    func readableDescription() {
        let request = CSI.CreateVolumeRequest(
            name: "pvc-1", capacityRange: .init(requiredBytes: 10),
            volumeCapabilities: [.init(accessType: .block(.init()), accessMode: .init(mode: .singleNodeWriter))],
            parameters: ["type": "SSD"], secrets: ["ak": "AK123", "sk": "SK456"])
        #expect(request.redactedDescription == """
            CreateVolumeRequest(name: "pvc-1", capacityRange: CapacityRange(requiredBytes: 10), \
            volumeCapabilities: [VolumeCapability(accessType: block(BlockVolume()), accessMode: AccessMode(mode: singleNodeWriter))], \
            parameters: ["type": "SSD"], secrets: ["ak": ***, "sk": ***])
            """)
    }

    @Test("no sample of any message shows a secret value", arguments: allMessageNames)
    func samplesRedacted(name: String) throws {
        let text = try #require(CSIMessageRegistry.sample(name)).redactedDescription
        #expect(!text.contains("\"secrets-k1\": \""))
        if text.contains("secrets-k1") { #expect(text.contains("\"secrets-k1\": ***")) }
    }

    @Test("the generated list of secret fields matches the 14 csi_secret fields of the proto")
    func secretFieldCount() {
        let redacting = allMessageNames.filter { CSIMessageRegistry.sample($0)!.redactedDescription.contains("\"secrets-k1\": ***") }
        #expect(redacting.count == 14)
    }
}

// MARK: - methods

@Suite("CSIMethod")
struct MethodTests {
    @Test("26 RPCs in three services, paths in gRPC form")
    func paths() {
        #expect(CSIMethod.allCases.count == 26)
        for method in CSIMethod.allCases {
            #expect(method.rawValue == "/\(method.serviceName)/\(method.methodName)")
        }
        #expect(Set(CSIMethod.allCases.map(\.serviceName)) == ["csi.v1.Identity", "csi.v1.Controller", "csi.v1.Node"])
        #expect(CSIMethod(rawValue: "/csi.v1.Controller/CreateSnapshot") == .createSnapshot)
        #expect(CSIMethod(rawValue: "/csi.v1.GroupController/CreateVolumeGroupSnapshot") == nil)
    }

    @Test("request and response types follow the method name")
    func messageTypes() {
        #expect(ObjectIdentifier(CSIMethod.createSnapshot.requestType) == ObjectIdentifier(CSI.CreateSnapshotRequest.self))
        #expect(ObjectIdentifier(CSIMethod.createSnapshot.responseType) == ObjectIdentifier(CSI.CreateSnapshotResponse.self))
        for method in CSIMethod.allCases {
            #expect("\(method.requestType)".hasSuffix(method.methodName + "Request"))
            #expect("\(method.responseType)".hasSuffix(method.methodName + "Response"))
        }
    }
}
