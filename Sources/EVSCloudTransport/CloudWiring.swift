// The EVS backend on the driver's HTTPS transport (HTTPTransport, libcurl): the one adapter from EVSCloud's
// HTTPSending to it, and the wiring main.swift calls for `--backend evs`.
import EVSCloud
import EVSSnapshotRules

/// EVSCloud's requests sent through HTTPTransport.
public struct HTTPTransportSender: HTTPSending {
    let transport: CurlTransport

    /// A sender trusting `caFile` (PEM) or, when nil, the system's CAs.
    public init(caFile: String?) {
        let tls = CurlTLSOptions(trust: caFile.map { .caFile($0) } ?? .system)
        transport = CurlTransport(configuration: .init(tls: tls))
    }

    public func send(_ request: EVSCloud.HTTPRequest, timeout: Duration) throws(EVSCloud.HTTPTransportError) -> EVSCloud.HTTPResponse {
        let outgoing = CurlRequest(
            method: request.method, url: request.url,
            headers: request.headers.map { CurlHeader($0.0, $0.1) },
            body: request.body, timeout: timeout)
        let response: (status: Int, headers: [(String, String)], body: [UInt8])
        do {
            response = try Self.exchange(transport, outgoing)
        } catch {
            throw EVSCloud.HTTPTransportError(message: error.message, timedOut: error.timedOut)
        }
        return EVSCloud.HTTPResponse(status: response.status, headers: response.headers, body: response.body)
    }
}

/// Why `--backend evs` cannot start.
public struct CloudWiringError: Error, CustomStringConvertible {
    public var description: String
}

/// Builds the EVS backend from the driver's flags.
public enum CloudWiring {
    /// The backend; endpoints default to `https://{evs,ecs,iam}.<region>.myhuaweicloud.com`.
    public static func backend(topologies: [Topology], rules: RuleSettings, maxVolumesPerNode: Int, projectID: String,
                               credentialsPath: String, evs: String?, ecs: String?, iam: String?, caFile: String?,
                               pollInterval: Duration) throws -> EVSCloudBackend {
        let region = topologies.first?.region ?? ""
        func endpoint(_ given: String?, _ service: String) throws -> ServiceEndpoint {
            let text = given ?? "https://\(service).\(region).myhuaweicloud.com"
            guard let parsed = ServiceEndpoint(text) else { throw CloudWiringError(description: "bad \(service) endpoint \(text)") }
            return parsed
        }
        let credentials: CloudCredentials
        do { credentials = try CloudCredentials.load(path: credentialsPath) } catch {
            throw CloudWiringError(description: error.description)
        }
        try CurlTransport.load()
        let configuration = CloudConfiguration(
            evs: try endpoint(evs, "evs"), ecs: try endpoint(ecs, "ecs"), iam: try endpoint(iam, "iam"),
            projectID: projectID, credentials: credentials, pollInterval: pollInterval)
        let client = CloudClient(configuration: configuration, transport: HTTPTransportSender(caFile: caFile))
        return EVSCloudBackend(client: client, topologies: topologies, rules: rules, maxAttachmentsPerNode: maxVolumesPerNode)
    }
}
