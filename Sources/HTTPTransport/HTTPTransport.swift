// HTTPTransport: HTTP/1.1 and HTTPS for the driver, over libcurl loaded on first use (see CCurlShim). Foundation-free.
internal import CCurlShim
import FileBytes
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A blocking HTTP(S) client: `send` runs the exchange on the calling thread and returns when it ends, fails, or
/// its timeout or deadline passes; never longer. Safe to share between threads: each `send` takes an idle libcurl
/// handle from a small pool (so keep-alive connections are reused) or makes one.
///
/// libcurl is not linked: it is loaded with `dlopen` the first time a request is sent (or `HTTPTransport.load()` is
/// called), so a process that never sends one never maps libcurl, OpenSSL and their dependencies.
public final class HTTPTransport: Sendable {
    public struct Configuration: Sendable {
        public var tls: TLSOptions
        public var authorization: HTTPAuthorization?
        /// Limit of an exchange whose request sets no `timeout` (its `deadline` still applies).
        public var defaultTimeout: Duration
        /// Limit of the connect and TLS handshake phase (within the overall limit).
        public var connectTimeout: Duration
        /// A larger body fails with `.responseTooLarge`.
        public var maxResponseBytes: Int
        /// Headers sent with every request (a request's header of the same name is sent as well).
        public var defaultHeaders: [HTTPHeader]
        /// Honour http_proxy / https_proxy / no_proxy from the environment (off by default).
        public var useEnvironmentProxy: Bool
        /// Idle libcurl handles (each with its connection cache) kept for reuse.
        public var maxIdleHandles: Int

        public init(tls: TLSOptions = TLSOptions(), authorization: HTTPAuthorization? = nil,
                    defaultTimeout: Duration = .seconds(10), connectTimeout: Duration = .seconds(5),
                    maxResponseBytes: Int = 64 << 20, defaultHeaders: [HTTPHeader] = [],
                    useEnvironmentProxy: Bool = false, maxIdleHandles: Int = 4) {
            self.tls = tls
            self.authorization = authorization
            self.defaultTimeout = defaultTimeout
            self.connectTimeout = connectTimeout
            self.maxResponseBytes = maxResponseBytes
            self.defaultHeaders = defaultHeaders
            self.useEnvironmentProxy = useEnvironmentProxy
            self.maxIdleHandles = maxIdleHandles
        }
    }

    public let configuration: Configuration
    private let idle = Mutex<[Exchange]>([])
    private let token: TokenSource?

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        switch configuration.authorization {
        case .bearer(let value): token = TokenSource(fixed: value)
        case .bearerTokenFile(let path): token = TokenSource(path: path)
        case nil: token = nil
        }
    }

    /// Loads libcurl now (it is otherwise loaded by the first `send`); throws `.unavailable` if it cannot be.
    public static func load() throws(HTTPTransportError) {
        var message = [CChar](repeating: 0, count: 256)
        if ccurl_load(&message, message.count) != 0 {
            throw .unavailable(cText(message))
        }
    }

    /// Sends `request` and waits for the whole response. A non-2xx status is a response, not an error.
    public func send(_ request: HTTPRequest) throws(HTTPTransportError) -> HTTPResponse {
        let limit = try Self.timeLimit(request: request, default: configuration.defaultTimeout)
        try Self.check(request)
        let exchange = try takeExchange()
        defer { giveBack(exchange) }
        try configure(exchange, for: request, limitMilliseconds: limit)
        return try exchange.perform(maxResponseBytes: configuration.maxResponseBytes)
    }

    /// The time left for the exchange in milliseconds (>= 1), or `.timeout` if the deadline is already past.
    static func timeLimit(request: HTTPRequest, default: Duration) throws(HTTPTransportError) -> Int {
        var limit = request.timeout ?? `default`
        if let deadline = request.deadline {
            let left = deadline - .now
            if left <= .zero { throw .timeout("the deadline passed before the request was sent") }
            limit = min(limit, left)
        }
        let (seconds, attoseconds) = limit.components
        if seconds < 0 || (seconds == 0 && attoseconds <= 0) { throw .timeout("the timeout is not positive") }
        let milliseconds = seconds.multipliedReportingOverflow(by: 1000)
        if milliseconds.overflow { return Int(Int32.max) }
        return max(1, Int(clamping: milliseconds.partialValue + attoseconds / 1_000_000_000_000_000))
    }

    /// Refuses header names and values with CR, LF or NUL, and a URL with NUL or CR/LF (header injection).
    static func check(_ request: HTTPRequest) throws(HTTPTransportError) {
        func clean(_ text: String) -> Bool { !text.utf8.contains { $0 == 0 || $0 == 10 || $0 == 13 } }
        guard clean(request.url), clean(request.method), !request.method.isEmpty else {
            throw .invalidRequest("the method or URL contains a control character or is empty")
        }
        for header in request.headers where !clean(header.name) || !clean(header.value) || header.name.isEmpty
            || header.name.contains(":") {
            throw .invalidRequest("header \(clean(header.name) ? header.name : "<name with control characters>") is malformed")
        }
    }

    private func configure(_ exchange: Exchange, for request: HTTPRequest, limitMilliseconds: Int) throws(HTTPTransportError) {
        let handle = exchange.handle
        func must(_ status: Int32, _ what: String) throws(HTTPTransportError) {
            if status != 0 { throw .invalidRequest("libcurl refused \(what)") }
        }
        try must(ccurl_set_url(handle, request.url), "the URL")
        try must(ccurl_set_method(handle, request.method), "the method \(request.method)")
        let connect = min(limitMilliseconds, Self.milliseconds(configuration.connectTimeout))
        try must(ccurl_set_timeouts(handle, limitMilliseconds, connect), "the timeouts")
        if configuration.useEnvironmentProxy { try must(ccurl_set_use_environment_proxy(handle, 1), "the proxy setting") }
        ccurl_set_max_response_bytes(handle, configuration.maxResponseBytes)
        switch configuration.tls.trust {
        case .system: break
        case .caFile(let path): try must(ccurl_set_ca_file(handle, path), "the CA file")
        case .caPEM(let pem):
            try must(pem.withUnsafeBytes { ccurl_set_ca_pem(handle, $0.baseAddress, $0.count) }, "the CA data")
        case .insecureSkipVerify: try must(ccurl_set_verify(handle, 0, 0), "disabling verification")
        }
        switch configuration.tls.clientIdentity {
        case nil: break
        case .files(let certificate, let key):
            try must(ccurl_set_client_cert_file(handle, certificate, key), "the client certificate files")
        case .pem(let certificate, let key):
            let status = certificate.withUnsafeBytes { c in
                key.withUnsafeBytes { k in ccurl_set_client_cert_pem(handle, c.baseAddress, c.count, k.baseAddress, k.count) }
            }
            try must(status, "the client certificate data")
        }
        var names = Set<String>()
        for header in request.headers {
            names.insert(header.name.lowercased())
            try must(ccurl_add_header(handle, "\(header.name): \(header.value)"), "header \(header.name)")
        }
        for header in configuration.defaultHeaders where !names.contains(header.name.lowercased()) {
            try must(ccurl_add_header(handle, "\(header.name): \(header.value)"), "header \(header.name)")
        }
        if let token, !names.contains("authorization") {
            let value = try token.current()
            try must(ccurl_add_header(handle, "Authorization: Bearer \(value)"), "the Authorization header")
        }
        // libcurl adds "Expect: 100-continue" to larger bodies, which costs a round trip; an empty value removes it.
        if !names.contains("expect") { try must(ccurl_add_header(handle, "Expect:"), "the Expect header") }
        let method = request.method.uppercased()
        if !request.body.isEmpty || method == "POST" || method == "PUT" || method == "PATCH" {
            let status = request.body.withUnsafeBytes { ccurl_set_body(handle, $0.baseAddress, $0.count) }
            try must(status, "the body")
            // CURLOPT_COPYPOSTFIELDS turns the request into a POST; put the method back.
            try must(ccurl_set_method(handle, request.method), "the method \(request.method)")
        }
    }

    static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return max(1, Int(clamping: seconds &* 1000 &+ attoseconds / 1_000_000_000_000_000))
    }

    private func takeExchange() throws(HTTPTransportError) -> Exchange {
        if let exchange = idle.withLock({ $0.popLast() }) {
            exchange.reset()
            return exchange
        }
        try Self.load()
        guard let handle = ccurl_exchange_create() else { throw .unavailable("curl_easy_init failed") }
        return Exchange(handle: handle)
    }

    private func giveBack(_ exchange: Exchange) {
        idle.withLock { pool in
            if pool.count < configuration.maxIdleHandles { pool.append(exchange) }
        }
    }
}

/// Owns one `ccurl_exchange` (and so one CURL easy handle); used by one thread at a time (taken from the pool).
final class Exchange: @unchecked Sendable {  // Sendable: handed between threads only through the pool's mutex.
    /// Owned; destroyed in deinit.
    let handle: OpaquePointer

    init(handle: OpaquePointer) { self.handle = handle }
    deinit { ccurl_exchange_destroy(handle) }

    func reset() { ccurl_exchange_reset(handle) }

    func perform(maxResponseBytes: Int) throws(HTTPTransportError) -> HTTPResponse {
        var status = 0
        var code: Int32 = 0
        var buffer = [CChar](repeating: 0, count: 512)
        let kind = ccurl_perform(handle, &status, &code, &buffer, buffer.count)
        let message = cText(buffer)
        switch kind {
        case CCURL_OK: break
        case CCURL_UNAVAILABLE: throw .unavailable(message)
        case CCURL_INVALID_REQUEST: throw .invalidRequest(message)
        case CCURL_RESOLVE: throw .resolve(message)
        case CCURL_CONNECT: throw .connect(message)
        case CCURL_TIMEOUT: throw .timeout(message)
        case CCURL_TLS: throw .tls(message)
        case CCURL_SEND: throw .send(message)
        case CCURL_RECEIVE: throw .receive(message)
        case CCURL_TOO_LARGE: throw .responseTooLarge(limit: maxResponseBytes)
        default: throw .other(code: Int(code), message)
        }
        var count = 0
        var body: [UInt8] = []
        if let bytes = ccurl_response_body(handle, &count), count > 0 {
            body = Array(UnsafeBufferPointer(start: bytes, count: count))
        }
        var headerCount = 0
        var headers: [HTTPHeader] = []
        if let block = ccurl_response_headers(handle, &headerCount), headerCount > 0 {
            let text = String(decoding: UnsafeRawBufferPointer(start: block, count: headerCount), as: UTF8.self)
            headers = Self.parseHeaders(text)
        }
        return HTTPResponse(status: status, headers: headers, body: body)
    }

    /// The header lines of the last response in the block (a status line starts a new response: 1xx are dropped).
    static func parseHeaders(_ block: String) -> [HTTPHeader] {
        var headers: [HTTPHeader] = []
        // "\r\n" is one Character in Swift: split on both forms.
        for line in block.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            if line.hasPrefix("HTTP/") { headers.removeAll(); continue }
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = String(line[..<colon])
            let value = line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" }
            var trimmed = Substring(value)
            while let last = trimmed.last, last == " " || last == "\t" { trimmed = trimmed.dropLast() }
            headers.append(HTTPHeader(name, String(trimmed)))
        }
        return headers
    }
}

/// A bearer token, fixed or read from a file and re-read at most once a minute.
final class TokenSource: Sendable {
    private let path: String?
    private let cached: Mutex<(token: String, readAt: ContinuousClock.Instant)?>

    init(fixed: String) {
        path = nil
        cached = Mutex((fixed, .now))
    }

    init(path: String) {
        self.path = path
        cached = Mutex(nil)
    }

    func current() throws(HTTPTransportError) -> String {
        let now = ContinuousClock.now
        if let entry = cached.withLock({ $0 }), path == nil || now - entry.readAt < .seconds(60) {
            return entry.token
        }
        guard let path else { return "" }
        let bytes: [UInt8]
        do { bytes = try FileBytes.read(path) } catch {
            throw .invalidRequest("cannot read the bearer token file \(path) (\(error.reason))")
        }
        var token = Substring(String(decoding: bytes, as: UTF8.self))
        while let last = token.last, last.isWhitespace { token = token.dropLast() }
        while let first = token.first, first.isWhitespace { token = token.dropFirst() }
        let value = String(token)
        cached.withLock { $0 = (value, now) }
        return value
    }
}

/// The text of a NUL-terminated C buffer.
func cText(_ buffer: [CChar]) -> String {
    let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}
