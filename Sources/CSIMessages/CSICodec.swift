// The one place that touches protobuf-c memory: generic decode (unpack, copy out, free_unpacked)
// and encode (build a C message tree in an arena, pack, free the arena). The generated glue in
// Generated/CSICodecGlue.swift only calls CReader/CWriter with field numbers.
internal import CCSIProto

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Implemented by every generated message; ties a Swift type to its protobuf-c descriptor.
protocol CSIGeneratedMessage: CSIMessage {
    /// The real address of the protobuf-c descriptor (from a C accessor, never `&global` in Swift).
    static var cDescriptor: UnsafePointer<ProtobufCMessageDescriptor> { get }
    /// The proto path below `csi.v1`, used in error messages.
    static var protoName: String { get }
    /// Copies an unpacked C message into Swift values.
    init(reader: CReader)
    /// Fills a freshly initialised C message.
    func write(to writer: CWriter)
}

extension CSIGeneratedMessage {
    /// Test hook: decode with a counting allocator (see `AllocationCounter`).
    static func decodeCounting(_ bytes: [UInt8], counter: AllocationCounter) throws(CSIDecodeError) -> Self {
        try CSICodec.decode(Self.self, from: bytes, counter: counter)
    }
}

/// Test hook: counts the blocks protobuf-c allocates and frees during one decode.
final class AllocationCounter: @unchecked Sendable {
    // @unchecked: mutated only from inside the single decode call it is passed to.
    /// Blocks allocated and not yet freed.
    var live = 0
    /// Blocks allocated in total.
    var total = 0
}

enum CSICodec {
    /// Decodes `bytes` as `M`. All C memory is freed before returning, on success and on error.
    static func decode<M: CSIGeneratedMessage>(
        _: M.Type, from bytes: [UInt8], counter: AllocationCounter?
    ) throws(CSIDecodeError) -> M {
        let desc = M.cDescriptor
        let allocator = counter.map(makeCountingAllocator)
        defer { allocator?.deallocate() }
        let result: Result<M, CSIDecodeError> = bytes.withUnsafeBufferPointer { buf in
            var one: UInt8 = 0
            let unpacked = withUnsafePointer(to: &one) { fallback in
                protobuf_c_message_unpack(desc, allocator, buf.count, buf.baseAddress ?? fallback)
            }
            guard let unpacked else { return .failure(.malformed(message: M.protoName)) }
            defer { protobuf_c_message_free_unpacked(unpacked, allocator) }
            do throws(CSIDecodeError) {
                try validateStrings(buf, desc, path: M.protoName)
            } catch {
                return .failure(error)
            }
            return .success(M(reader: CReader(msg: UnsafeRawPointer(unpacked), desc: desc)))
        }
        return try result.get()
    }

    /// Encodes `message`: builds the C tree in an arena, packs it into a Swift array, frees the arena.
    /// The C tree is never passed to `free_unpacked`.
    static func encode<M: CSIGeneratedMessage>(_ message: M) -> [UInt8] {
        let arena = CArena()
        return withExtendedLifetime(arena) {
            let writer = CWriter(desc: M.cDescriptor, arena: arena)
            message.write(to: writer)
            let cmsg = writer.msg.assumingMemoryBound(to: ProtobufCMessage.self)
            let size = protobuf_c_message_get_packed_size(cmsg)
            guard size > 0 else { return [] }
            return [UInt8](unsafeUninitializedCapacity: size) { out, count in
                count = protobuf_c_message_pack(cmsg, out.baseAddress!)
            }
        }
    }

    private static func makeCountingAllocator(_ counter: AllocationCounter) -> UnsafeMutablePointer<ProtobufCAllocator> {
        let p = UnsafeMutablePointer<ProtobufCAllocator>.allocate(capacity: 1)
        p.initialize(to: ProtobufCAllocator(
            alloc: { data, size in
                let c = Unmanaged<AllocationCounter>.fromOpaque(data!).takeUnretainedValue()
                c.live += 1
                c.total += 1
                return malloc(max(size, 1))
            },
            free: { data, pointer in
                guard let pointer else { return }
                Unmanaged<AllocationCounter>.fromOpaque(data!).takeUnretainedValue().live -= 1
                free(pointer)
            },
            allocator_data: Unmanaged.passUnretained(counter).toOpaque()))
        return p
    }

    /// Walks the raw wire bytes with the descriptors and checks every string field (and map key/value):
    /// protobuf-c accepts invalid UTF-8 and truncates at NUL; the spec requires UTF-8.
    /// Runs after a successful unpack, so the framing is already known to be sound.
    static func validateStrings(
        _ bytes: UnsafeBufferPointer<UInt8>, _ desc: UnsafePointer<ProtobufCMessageDescriptor>, path: String
    ) throws(CSIDecodeError) {
        var i = 0
        func varint() throws(CSIDecodeError) -> UInt64 {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while i < bytes.count, shift < 64 {
                let b = bytes[i]
                i += 1
                value |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 { return value }
                shift += 7
            }
            throw .malformed(message: path)
        }
        while i < bytes.count {
            let key = try varint()
            let number = UInt32(truncatingIfNeeded: key >> 3)
            switch key & 7 {
            case 0: _ = try varint()
            case 1: i += 8
            case 5: i += 4
            case 2:
                let length = try varint()
                guard length <= UInt64(bytes.count - i) else { throw .malformed(message: path) }
                let body = UnsafeBufferPointer(rebasing: bytes[i..<(i + Int(length))])
                i += Int(length)
                guard let field = protobuf_c_message_descriptor_get_field(desc, number) else { continue }
                let name = path + "." + String(cString: field.pointee.name)
                switch field.pointee.type {
                case PROTOBUF_C_TYPE_STRING:
                    if body.contains(0) { throw .embeddedNUL(field: name) }
                    if String(validating: body, as: UTF8.self) == nil { throw .invalidUTF8(field: name) }
                case PROTOBUF_C_TYPE_MESSAGE:
                    let sub = field.pointee.descriptor!.assumingMemoryBound(to: ProtobufCMessageDescriptor.self)
                    try validateStrings(body, sub, path: name)
                default:
                    continue
                }
            default:
                throw .malformed(message: path)
            }
            if i > bytes.count { throw .malformed(message: path) }
        }
    }
}

/// Read access to one unpacked protobuf-c message, by field number.
struct CReader {
    let msg: UnsafeRawPointer
    let desc: UnsafePointer<ProtobufCMessageDescriptor>

    private func field(_ number: Int) -> UnsafePointer<ProtobufCFieldDescriptor> {
        guard let f = protobuf_c_message_descriptor_get_field(desc, UInt32(number)) else {
            preconditionFailure("generator bug: no field \(number) in \(String(cString: desc.pointee.name))")
        }
        return f
    }

    private func load<T>(_ number: Int, as type: T.Type) -> T {
        msg.load(fromByteOffset: Int(field(number).pointee.offset), as: type)
    }

    func string(_ number: Int) -> String {
        load(number, as: UnsafePointer<CChar>?.self).map { String(cString: $0) } ?? ""
    }

    func int64(_ number: Int) -> Int64 { load(number, as: Int64.self) }
    func int32(_ number: Int) -> Int32 { load(number, as: Int32.self) }
    func bool(_ number: Int) -> Bool { load(number, as: protobuf_c_boolean.self) != 0 }
    func enumValue(_ number: Int) -> Int32 { load(number, as: Int32.self) }

    /// The submessage, or nil when absent (NULL pointer, or another member of its oneof is set).
    func message(_ number: Int) -> CReader? {
        let f = field(number)
        if f.pointee.flags & PROTOBUF_C_FIELD_FLAG_ONEOF.rawValue != 0 {
            let active = msg.load(fromByteOffset: Int(f.pointee.quantifier_offset), as: UInt32.self)
            if active != f.pointee.id { return nil }
        }
        guard let sub = msg.load(fromByteOffset: Int(f.pointee.offset), as: UnsafeRawPointer?.self) else { return nil }
        return CReader(msg: sub, desc: f.pointee.descriptor!.assumingMemoryBound(to: ProtobufCMessageDescriptor.self))
    }

    private func repeated<T>(_ number: Int, _ body: (UnsafeRawPointer?, UnsafePointer<ProtobufCFieldDescriptor>) -> T) -> [T] {
        let f = field(number)
        let count = msg.load(fromByteOffset: Int(f.pointee.quantifier_offset), as: Int.self)
        guard count > 0, let array = msg.load(fromByteOffset: Int(f.pointee.offset), as: UnsafePointer<UnsafeRawPointer?>?.self)
        else { return [] }
        return (0..<count).map { body(array[$0], f) }
    }

    func messages(_ number: Int) -> [CReader] {
        repeated(number) { element, f in
            CReader(msg: element!, desc: f.pointee.descriptor!.assumingMemoryBound(to: ProtobufCMessageDescriptor.self))
        }
    }

    func strings(_ number: Int) -> [String] {
        repeated(number) { element, _ in element.map { String(cString: $0.assumingMemoryBound(to: CChar.self)) } ?? "" }
    }

    /// A `map<string, string>`; a repeated key keeps its last value, as protobuf specifies.
    func map(_ number: Int) -> [String: String] {
        Dictionary(messages(number).map { ($0.string(1), $0.string(2)) }, uniquingKeysWith: { _, last in last })
    }
}

/// Owns every C block of one message tree under construction; frees them all at once.
final class CArena {
    private var blocks: [UnsafeMutableRawPointer] = []

    func allocate(_ size: Int) -> UnsafeMutableRawPointer {
        let block = calloc(1, max(size, 1))!
        blocks.append(block)
        return block
    }

    /// A NUL-terminated copy. A Swift string with an embedded NUL is cut there (protobuf-c strings are C strings).
    func cString(_ s: String) -> UnsafeMutablePointer<CChar> {
        let utf8 = Array(s.utf8)
        let p = allocate(utf8.count + 1).assumingMemoryBound(to: CChar.self)
        utf8.withUnsafeBufferPointer { src in
            UnsafeMutableRawPointer(p).copyMemory(from: src.baseAddress!, byteCount: src.count)
        }
        return p
    }

    deinit {
        for block in blocks { free(block) }
    }
}

/// Write access to one C message under construction, by field number. Memory comes from the arena.
struct CWriter {
    let msg: UnsafeMutableRawPointer
    let desc: UnsafePointer<ProtobufCMessageDescriptor>
    let arena: CArena

    init(desc: UnsafePointer<ProtobufCMessageDescriptor>, arena: CArena) {
        self.desc = desc
        self.arena = arena
        msg = arena.allocate(Int(desc.pointee.sizeof_message))
        protobuf_c_message_init(desc, msg)
    }

    private func field(_ number: Int) -> UnsafePointer<ProtobufCFieldDescriptor> {
        guard let f = protobuf_c_message_descriptor_get_field(desc, UInt32(number)) else {
            preconditionFailure("generator bug: no field \(number) in \(String(cString: desc.pointee.name))")
        }
        return f
    }

    private func store<T>(_ number: Int, _ value: T) {
        msg.storeBytes(of: value, toByteOffset: Int(field(number).pointee.offset), as: T.self)
    }

    private func subDescriptor(_ f: UnsafePointer<ProtobufCFieldDescriptor>) -> UnsafePointer<ProtobufCMessageDescriptor> {
        f.pointee.descriptor!.assumingMemoryBound(to: ProtobufCMessageDescriptor.self)
    }

    func setString(_ number: Int, _ value: String) {
        if !value.isEmpty { store(number, UnsafeMutablePointer<CChar>?(arena.cString(value))) }
    }

    func setInt64(_ number: Int, _ value: Int64) { store(number, value) }
    func setInt32(_ number: Int, _ value: Int32) { store(number, value) }
    func setBool(_ number: Int, _ value: Bool) { store(number, protobuf_c_boolean(value ? 1 : 0)) }
    func setEnum(_ number: Int, _ value: Int32) { store(number, value) }

    /// Sets a submessage (and selects it if it is a oneof member).
    func setMessage(_ number: Int, _ fill: (CWriter) -> Void) {
        let f = field(number)
        let child = CWriter(desc: subDescriptor(f), arena: arena)
        fill(child)
        msg.storeBytes(of: Optional(child.msg), toByteOffset: Int(f.pointee.offset), as: UnsafeMutableRawPointer?.self)
        if f.pointee.flags & PROTOBUF_C_FIELD_FLAG_ONEOF.rawValue != 0 {
            msg.storeBytes(of: f.pointee.id, toByteOffset: Int(f.pointee.quantifier_offset), as: UInt32.self)
        }
    }

    private func setRepeated(_ number: Int, count: Int, _ element: (Int, UnsafePointer<ProtobufCFieldDescriptor>) -> UnsafeMutableRawPointer) {
        guard count > 0 else { return }
        let f = field(number)
        let array = arena.allocate(count * MemoryLayout<UnsafeMutableRawPointer?>.stride)
            .bindMemory(to: UnsafeMutableRawPointer?.self, capacity: count)
        for i in 0..<count { array[i] = element(i, f) }
        msg.storeBytes(of: count, toByteOffset: Int(f.pointee.quantifier_offset), as: Int.self)
        msg.storeBytes(of: Optional(array), toByteOffset: Int(f.pointee.offset), as: UnsafeMutablePointer<UnsafeMutableRawPointer?>?.self)
    }

    func setMessages<T>(_ number: Int, _ items: [T], _ fill: (T, CWriter) -> Void) {
        setRepeated(number, count: items.count) { i, f in
            let child = CWriter(desc: subDescriptor(f), arena: arena)
            fill(items[i], child)
            return child.msg
        }
    }

    func setStrings(_ number: Int, _ items: [String]) {
        setRepeated(number, count: items.count) { i, _ in UnsafeMutableRawPointer(arena.cString(items[i])) }
    }

    /// A `map<string, string>`, written in key order so the bytes are deterministic.
    func setMap(_ number: Int, _ map: [String: String]) {
        setMessages(number, map.sorted { $0.key < $1.key }) { entry, w in
            w.setString(1, entry.key)
            w.setString(2, entry.value)
        }
    }
}

/// Formatting helpers for `redactedDescription`.
enum CSIDescribe {
    static func quoted(_ s: String) -> String { String(reflecting: s) }

    static func strings(_ items: [String]) -> String {
        "[" + items.map(quoted).joined(separator: ", ") + "]"
    }

    /// Keys always shown; values replaced by `***` when the field is a `csi_secret`.
    static func map(_ map: [String: String], secret: Bool) -> String {
        "[" + map.keys.sorted().map { "\(quoted($0)): \(secret ? "***" : quoted(map[$0]!))" }.joined(separator: ", ") + "]"
    }
}
