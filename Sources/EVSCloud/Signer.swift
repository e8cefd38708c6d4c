// AK/SK request signing as Huawei Cloud's API gateway specifies it (API Request Signing Guide, "AK/SK Signing and
// Authentication Algorithm"): algorithm SDK-HMAC-SHA256, a canonical request
//   method \n canonical URI (each segment encoded, ending in /) \n canonical query (sorted) \n
//   canonical headers (lower-case name:trimmed value, one per line, sorted) \n signed headers (;-joined) \n
//   hex(SHA-256(body))
// a string to sign `SDK-HMAC-SHA256 \n X-Sdk-Date \n hex(SHA-256(canonical request))`, and the header
//   Authorization: SDK-HMAC-SHA256 Access=<AK>, SignedHeaders=<names>, Signature=<hex HMAC-SHA256(SK, string to sign)>
// It signs HTTPTransport's HTTPRequest as it will be sent: the canonical URI and query are read back from its URL,
// which `HTTPRequest(method:endpoint:path:query:…)` (ServiceEndpoint.swift) encodes in the canonical form.
import HTTPTransport

/// Signs requests with an access key pair.
public struct AKSKSigner: Sendable {
    /// The algorithm name in the Authorization header.
    public static let algorithm = "SDK-HMAC-SHA256"
    let accessKey: String
    let secretKey: String

    /// A signer for this key pair.
    public init(accessKey: String, secretKey: String) { self.accessKey = accessKey; self.secretKey = secretKey }

    /// `request` with Host, X-Sdk-Date and Authorization set; `now` is the signing time (seconds since the epoch).
    public func sign(_ request: HTTPRequest, now: Int64) -> HTTPRequest {
        var signed = request
        signed.headers.removeAll { ["host", "x-sdk-date", "authorization"].contains($0.name.lowercased()) }
        signed.headers.append(HTTPHeader("X-Sdk-Date", WallClock.sdkDate(now)))
        signed.headers.append(HTTPHeader("Host", String(request.urlParts.authority)))
        let (canonical, signedHeaders) = Self.canonicalRequest(signed)
        let toSign = Self.stringToSign(canonicalRequest: canonical, sdkDate: WallClock.sdkDate(now))
        let signature = Self.signature(secretKey: secretKey, stringToSign: toSign)
        signed.headers.append(HTTPHeader("Authorization", Self.authorization(accessKey: accessKey,
                                                                             signedHeaders: signedHeaders,
                                                                             signature: signature)))
        return signed
    }

    /// The Authorization header's value.
    public static func authorization(accessKey: String, signedHeaders: String, signature: String) -> String {
        "\(algorithm) Access=\(accessKey), SignedHeaders=\(signedHeaders), Signature=\(signature)"
    }

    /// The canonical request of `request` (which must carry the headers to sign) and its signed-header list. The
    /// URI is the URL's encoded path ending in `/`; the query its encoded `key=value` pairs sorted by key, then value.
    public static func canonicalRequest(_ request: HTTPRequest) -> (text: String, signedHeaders: String) {
        let parts = request.urlParts
        var uri = String(parts.path)
        if !uri.hasSuffix("/") { uri += "/" }
        var pairs: [(Substring, Substring)] = parts.query.split(separator: "&").map { item in
            guard let eq = item.firstIndex(of: "=") else { return (item, "") }
            return (item[..<eq], item[item.index(after: eq)...])
        }
        pairs.sort { a, b in a.0 == b.0 ? a.1 < b.1 : a.0 < b.0 }
        let query = pairs.map { pair -> String in pair.0 + "=" + pair.1 }.joined(separator: "&")
        var headers: [String: String] = [:]
        for header in request.headers where Self.isSigned(header.name) {
            headers[header.name.lowercased()] = trim(header.value)
        }
        let names = headers.keys.sorted()
        let canonicalHeaders = names.map { "\($0):\(headers[$0]!)\n" }.joined()
        let signedHeaders = names.joined(separator: ";")
        let text = [request.method.uppercased(), uri, query, canonicalHeaders, signedHeaders,
                    Hex.encode(SHA256.hash(request.body))].joined(separator: "\n")
        return (text, signedHeaders)
    }

    /// Whether a header is signed. As the SDK does (huaweicloud-sdk-go-v3 core/auth/signer, whose published test
    /// vector this follows): every header but Authorization, Content-Type, and names with "_" (proxies on the way
    /// may drop those, and a signed header the gateway does not see fails the signature).
    static func isSigned(_ name: String) -> Bool {
        let lower = name.lowercased()
        return lower != "authorization" && lower != "content-type" && !lower.contains("_")
    }

    /// The string to sign for a canonical request.
    public static func stringToSign(canonicalRequest: String, sdkDate: String) -> String {
        "\(algorithm)\n\(sdkDate)\n\(Hex.encode(SHA256.hash(Array(canonicalRequest.utf8))))"
    }

    /// hex(HMAC-SHA256(secret key, string to sign)).
    public static func signature(secretKey: String, stringToSign: String) -> String {
        Hex.encode(HMACSHA256.mac(key: Array(secretKey.utf8), message: Array(stringToSign.utf8)))
    }

    private static func trim(_ text: String) -> String {
        var s = Substring(text)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}
