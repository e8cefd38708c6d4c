// Percent-encoding of URL paths and query parameters (RFC 3986): what a caller building an HTTPRequest's `url`
// from parts needs. Foundation-free.

/// Percent-encoding that keeps only RFC 3986's unreserved characters (`A-Z a-z 0-9 - _ . ~`) as they are and writes
/// every other byte of the UTF-8 text as `%XX` (upper-case hex). This is also the form Huawei Cloud's API gateway
/// signs (its canonical request), so a URL built with it can be signed as it is sent.
public enum URLEncoding {
    private static let hex = Array("0123456789ABCDEF".utf8)

    private static func isUnreserved(_ c: UInt8) -> Bool {
        (65...90).contains(c) || (97...122).contains(c) || (48...57).contains(c)
            || c == UInt8(ascii: "-") || c == UInt8(ascii: "_") || c == UInt8(ascii: ".") || c == UInt8(ascii: "~")
    }

    /// One query key or value, or one path segment.
    public static func component(_ text: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for c in text.utf8 {
            if isUnreserved(c) { out.append(c) } else { out += [UInt8(ascii: "%"), hex[Int(c >> 4)], hex[Int(c & 0xf)]] }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A path: each segment encoded, the slashes kept.
    public static func path(_ text: String) -> String {
        text.split(separator: "/", omittingEmptySubsequences: false).map { component(String($0)) }.joined(separator: "/")
    }

    /// A query string (without `?`): each key and value encoded, pairs in the given order.
    public static func query(_ items: [(String, String)]) -> String {
        items.map { component($0.0) + "=" + component($0.1) }.joined(separator: "&")
    }
}
