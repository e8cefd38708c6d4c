// The strict parser: RFC 8259 and nothing else, straight from bytes (no Foundation, no Codable round trip).
// What it refuses beyond the grammar, and why, is in docs/json.md; JSONCoreTests hold it to JSONTestSuite.

/// Why a text is not JSON: the byte offset and what was expected.
public struct JSONParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Byte offset of the problem.
    public var offset: Int
    /// What is wrong.
    public var reason: String
    public init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }
    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}

extension JSON {
    /// How deep arrays and objects may nest; deeper input is refused before the parser's recursion could exhaust
    /// a thread's stack. 512 levels need under 128 KiB of stack in a release build and under 2 MiB in a debug one
    /// (measured on threads of fixed size); the driver's threads have glibc's 8 MiB, the plugin's Swift tasks pass
    /// the debug test.
    public static let maximumDepth = 512

    /// Parses one JSON value, with optional white space around it. Members named in `skippingKeys` are checked
    /// like any other but left out of every object they appear in, at any depth, without building their values
    /// (the plugin skips `managedFields`, as kubectl hides them).
    public static func parse<Bytes: Collection>(_ bytes: Bytes, skippingKeys: Set<String> = [])
        throws(JSONParseError) -> JSON where Bytes.Element == UInt8 {
        let result = bytes.withContiguousStorageIfAvailable { buffer in
            Result { () throws(JSONParseError) -> JSON in try parseDocument(buffer, skippingKeys) }
        }
        if let result { return try result.get() }
        return try Array(bytes).withUnsafeBufferPointer { buffer throws(JSONParseError) -> JSON in
            try parseDocument(buffer, skippingKeys)
        }
    }

    /// Parses JSON text.
    public static func parse(_ text: String, skippingKeys: Set<String> = []) throws(JSONParseError) -> JSON {
        var text = text
        return try text.withUTF8 { buffer in
            Result { () throws(JSONParseError) -> JSON in try parseDocument(buffer, skippingKeys) }
        }.get()
    }

    private static func parseDocument(_ buffer: UnsafeBufferPointer<UInt8>, _ skip: Set<String>)
        throws(JSONParseError) -> JSON {
        var parser = Parser(bytes: buffer, skip: skip)
        parser.skipSpace()
        let value = try parser.value(depth: 0)
        parser.skipSpace()
        if parser.index != buffer.count { throw parser.error("text after the value") }
        return value
    }
}

/// One pass over the bytes; `value` builds, `skipValue` checks the same grammar without building.
private struct Parser {
    let bytes: UnsafeBufferPointer<UInt8>
    let skip: Set<String>
    /// Bit n is set when a skipped key is n UTF-8 bytes long (n < 64): most keys are ruled out without hashing.
    let skipLengths: UInt64
    var index = 0

    init(bytes: UnsafeBufferPointer<UInt8>, skip: Set<String>) {
        self.bytes = bytes
        self.skip = skip
        skipLengths = skip.reduce(0) { mask, key in mask | (key.utf8.count < 64 ? 1 << UInt64(key.utf8.count) : 1 << 63) }
    }

    func skips(_ key: String) -> Bool {
        let length = key.utf8.count
        guard skipLengths & (1 << UInt64(min(length, 63))) != 0 else { return false }
        return skip.contains(key)
    }

    func error(_ reason: String) -> JSONParseError { JSONParseError(offset: index, reason: reason) }

    var atEnd: Bool { index >= bytes.count }

    mutating func skipSpace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    mutating func literal(_ word: StaticString) throws(JSONParseError) {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw error("expected \(word)") }
        for k in 0..<count where bytes[index + k] != word.utf8Start[k] { throw error("expected \(word)") }
        index += count
    }

    mutating func value(depth: Int) throws(JSONParseError) -> JSON {
        guard !atEnd else { throw error("unexpected end") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw error("unexpected character")
        }
    }

    /// The same checks as `value`, nothing built.
    mutating func skipValue(depth: Int) throws(JSONParseError) {
        guard !atEnd else { throw error("unexpected end") }
        switch bytes[index] {
        case UInt8(ascii: "{"):
            try members(depth: depth + 1, keys: false) { (_: String?, p: inout Parser) throws(JSONParseError) in
                try p.skipValue(depth: depth + 1)
            }
        case UInt8(ascii: "["):
            try elements(depth: depth + 1) { (p: inout Parser) throws(JSONParseError) in try p.skipValue(depth: depth + 1) }
        case UInt8(ascii: "\""): try skipString()
        default: _ = try value(depth: depth)
        }
    }

    mutating func object(depth: Int) throws(JSONParseError) -> JSON {
        var object: [String: JSON] = [:]
        let skipping = !skip.isEmpty
        try members(depth: depth, keys: true) { (key: String?, p: inout Parser) throws(JSONParseError) in
            if skipping, p.skips(key!) {
                try p.skipValue(depth: depth)
            } else {
                object[key!] = try p.value(depth: depth)
            }
        }
        return .object(object)
    }

    mutating func array(depth: Int) throws(JSONParseError) -> JSON {
        var elements: [JSON] = []
        try self.elements(depth: depth) { (p: inout Parser) throws(JSONParseError) in elements.append(try p.value(depth: depth)) }
        return .array(elements)
    }

    /// `{ "key": value, ... }`: `member` reads each value (given its key when `keys`).
    mutating func members(depth: Int, keys: Bool, _ member: (String?, inout Parser) throws(JSONParseError) -> Void)
        throws(JSONParseError) {
        guard depth <= JSON.maximumDepth else { throw error("nesting deeper than \(JSON.maximumDepth)") }
        index += 1
        skipSpace()
        if !atEnd, bytes[index] == UInt8(ascii: "}") { index += 1; return }
        while true {
            skipSpace()
            guard !atEnd, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a member name") }
            var key: String?
            if keys { key = try string() } else { try skipString() }
            skipSpace()
            guard !atEnd, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':'") }
            index += 1
            skipSpace()
            try member(key, &self)
            skipSpace()
            guard !atEnd else { throw error("unterminated object") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "}") { index += 1; return }
            throw error("expected ',' or '}'")
        }
    }

    /// `[ value, ... ]`: `element` reads each value.
    mutating func elements(depth: Int, _ element: (inout Parser) throws(JSONParseError) -> Void) throws(JSONParseError) {
        guard depth <= JSON.maximumDepth else { throw error("nesting deeper than \(JSON.maximumDepth)") }
        index += 1
        skipSpace()
        if !atEnd, bytes[index] == UInt8(ascii: "]") { index += 1; return }
        while true {
            skipSpace()
            try element(&self)
            skipSpace()
            guard !atEnd else { throw error("unterminated array") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "]") { index += 1; return }
            throw error("expected ',' or ']'")
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`; an integer that fits in Int64 is `.int`, any other
    /// number the nearest Double; a number too large for a Double (`1e400`) is refused rather than made infinite.
    mutating func number() throws(JSONParseError) -> JSON {
        let start = index
        func digits(_ p: inout Parser) -> Int {
            let from = p.index
            while p.index < p.bytes.count, p.bytes[p.index] &- UInt8(ascii: "0") < 10 { p.index += 1 }
            return p.index - from
        }
        let negative = bytes[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        guard !atEnd else { throw error("expected a digit") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
            if !atEnd, bytes[index] &- UInt8(ascii: "0") < 10 { throw error("leading zero in a number") }
        } else if digits(&self) == 0 {
            throw error("expected a digit")
        }
        let integerEnd = index
        if !atEnd, bytes[index] == UInt8(ascii: ".") {
            index += 1
            if digits(&self) == 0 { throw error("expected a digit after '.'") }
        }
        if !atEnd, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if !atEnd, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            if digits(&self) == 0 { throw error("expected a digit in the exponent") }
        }
        if index == integerEnd, index - start <= 20 {
            // A sign and 19 digits may still fit (nanosecond times do); the reporting arithmetic catches overflow.
            var magnitude: Int64 = 0
            var overflow = false
            for k in (negative ? start + 1 : start)..<index where !overflow {
                let (times10, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times10.addingReportingOverflow(Int64(bytes[k] - UInt8(ascii: "0")))
                magnitude = sum
                overflow = o1 || o2
            }
            if !overflow { return .int(negative ? -magnitude : magnitude) }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        guard let value = Double(text) else { throw JSONParseError(offset: start, reason: "bad number") }
        guard value.isFinite else { throw JSONParseError(offset: start, reason: "number out of range") }
        return .number(value)
    }

    mutating func hex4() throws(JSONParseError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw error("short \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[index]
            let digit: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = c - UInt8(ascii: "A") + 10
            default: throw error("bad \\u escape")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    /// A string from its opening quote. Control characters must be escaped; the bytes must be UTF-8; a \u escape
    /// of a UTF-16 surrogate must be a high one followed by a low one (a lone surrogate is no Unicode scalar, so
    /// it is refused rather than replaced).
    mutating func string() throws(JSONParseError) -> String {
        index += 1
        let start = index
        var ascii = true
        // Fast path: no escapes, the bytes are the text.
        while index < bytes.count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                let raw = UnsafeBufferPointer(rebasing: bytes[start..<index])
                index += 1
                if ascii { return String(decoding: raw, as: UTF8.self) }
                guard let text = String(validating: raw, as: UTF8.self) else {
                    throw JSONParseError(offset: start - 1, reason: "invalid UTF-8 in a string")
                }
                return text
            }
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 { throw error("control character in a string") }
            if b >= 0x80 { ascii = false }
            index += 1
        }
        var out = Array(bytes[start..<index])
        while true {
            guard !atEnd else { throw error("unterminated string") }
            let b = bytes[index]
            if b == UInt8(ascii: "\"") { index += 1; break }
            if b < 0x20 { throw error("control character in a string") }
            if b != UInt8(ascii: "\\") { out.append(b); index += 1; continue }
            index += 1
            guard !atEnd else { throw error("unterminated escape") }
            let e = bytes[index]
            index += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar) {
                    guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
                    else { throw error("lone high surrogate") }
                    index += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw error("high surrogate without a low one") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(scalar) {
                    throw error("lone low surrogate")
                }
                // Every other value below 0x110000 is a scalar.
                appendUTF8(Unicode.Scalar(scalar)!, to: &out)
            default: throw error("bad escape")
            }
        }
        guard let text = String(validating: out, as: UTF8.self) else {
            throw JSONParseError(offset: start - 1, reason: "invalid UTF-8 in a string")
        }
        return text
    }

    /// The same checks as `string`; nothing is built unless the string has escapes or non-ASCII bytes.
    mutating func skipString() throws(JSONParseError) {
        let quote = index
        index += 1
        while index < bytes.count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") { index += 1; return }
            if b == UInt8(ascii: "\\") || b >= 0x80 { break }
            if b < 0x20 { throw error("control character in a string") }
            index += 1
        }
        index = quote
        _ = try string()
    }

    private func appendUTF8(_ scalar: Unicode.Scalar, to out: inout [UInt8]) {
        UTF8.encode(scalar) { out.append($0) }
    }
}
