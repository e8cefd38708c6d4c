// The format of EVS ids, checked where an id enters from outside (a CSI request) before it is looked up or
// becomes part of a file name.

/// EVS disk and snapshot ids are UUIDs: 8-4-4-4-12 hexadecimal digits, e.g. `5a6f3c2e-0b1d-4e8f-9a7b-1c2d3e4f5a6b`.
public enum EVSIdentifier {
    /// The length of a well-formed id.
    public static let length = 36
    /// Offsets of the four hyphens.
    static let hyphens: Set<Int> = [8, 13, 18, 23]

    /// Whether `text` is a well-formed EVS id (hex digits of either case, hyphens where a UUID has them).
    /// Such a string has no `/`, `.`, NUL or space, so it is safe as a file name component.
    public static func isWellFormed(_ text: String) -> Bool {
        let bytes = text.utf8
        guard bytes.count == length else { return false }
        for (offset, byte) in bytes.enumerated() {
            if hyphens.contains(offset) {
                guard byte == UInt8(ascii: "-") else { return false }
            } else {
                guard isHexDigit(byte) else { return false }
            }
        }
        return true
    }

    /// Why `text` is not a well-formed id, for messages (the text is cut to 64 characters and escaped).
    public static func problem(_ text: String, kind: String) -> String {
        "\(quoted(text)) is not an EVS \(kind) id (\(length) characters: 8-4-4-4-12 hexadecimal digits)"
    }

    /// `text` quoted for a message: at most 64 characters, control characters escaped.
    public static func quoted(_ text: String) -> String {
        var out = ""
        for (index, scalar) in text.unicodeScalars.enumerated() {
            if index == 64 { out += "…"; break }
            out += scalar.value < 0x20 || scalar.value == 0x7F ? scalar.escaped(asASCII: true) : String(scalar)
        }
        return "'\(out)'"
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }
}

extension DiskID {
    /// The id when `text` is a well-formed EVS disk id, else nil (an id no EVS disk can have).
    public init?(validating text: String) {
        guard EVSIdentifier.isWellFormed(text) else { return nil }
        self.init(text)
    }
}

extension SnapshotID {
    /// The id when `text` is a well-formed EVS snapshot id, else nil (an id no EVS snapshot can have).
    public init?(validating text: String) {
        guard EVSIdentifier.isWellFormed(text) else { return nil }
        self.init(text)
    }
}
