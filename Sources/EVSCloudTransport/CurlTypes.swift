// Names for HTTPTransport's types, declared where EVSCloud (which has its own HTTPRequest and HTTPResponse) is not
// imported: the module and its class share the name HTTPTransport, so they cannot be qualified in CloudWiring.swift.
import HTTPTransport

typealias CurlTransport = HTTPTransport
typealias CurlRequest = HTTPRequest
typealias CurlHeader = HTTPHeader
typealias CurlTLSOptions = TLSOptions
typealias CurlError = HTTPTransportError

extension HTTPTransportSender {
    /// One exchange; HTTPTransport's answer and errors in EVSCloud's plain terms.
    static func exchange(_ transport: CurlTransport, _ request: CurlRequest)
        throws(ExchangeFailure) -> (status: Int, headers: [(String, String)], body: [UInt8]) {
        do {
            let response = try transport.send(request)
            return (response.status, response.headers.map { ($0.name, $0.value) }, response.body)
        } catch {
            var timedOut = false
            if case .timeout = error { timedOut = true }
            throw ExchangeFailure(message: error.description, timedOut: timedOut)
        }
    }
}

/// A failed exchange (converted to EVSCloud's HTTPTransportError by the caller).
struct ExchangeFailure: Error {
    var message: String
    var timedOut: Bool
}
