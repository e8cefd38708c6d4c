// The `--backend evs` wiring main.swift calls: the driver's flags -> endpoints, credentials, HTTPTransport -> backend.
import EVSSnapshotRules
import HTTPTransport

/// Why `--backend evs` cannot start.
public struct CloudWiringError: Error, CustomStringConvertible {
    public var description: String
}

/// Builds the EVS backend from the driver's flags.
public enum CloudWiring {
    /// The backend; endpoints default to `https://{evs,ecs,iam}.<region>.myhuaweicloud.com`. HTTPS goes through
    /// HTTPTransport trusting `caFile` (PEM) or, when nil, the system's CAs; libcurl is loaded here, so a missing
    /// libcurl stops the start rather than the first call.
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
        do { try HTTPTransport.load() } catch { throw CloudWiringError(description: error.description) }
        let configuration = CloudConfiguration(
            evs: try endpoint(evs, "evs"), ecs: try endpoint(ecs, "ecs"), iam: try endpoint(iam, "iam"),
            projectID: projectID, credentials: credentials, pollInterval: pollInterval)
        let transport = HTTPTransport(configuration: .init(tls: TLSOptions(trust: caFile.map { .caFile($0) } ?? .system)))
        let client = CloudClient(configuration: configuration, transport: transport)
        return EVSCloudBackend(client: client, topologies: topologies, rules: rules, maxAttachmentsPerNode: maxVolumesPerNode)
    }
}
