import Foundation
import JSONCore
import KubeClient

/// `ClusterAPI` over the shared `KubeClient` (kubeconfig, TLS, auth, `-v` logging and Warning headers are its job).
/// Objects travel as raw JSON; list calls page with `limit`/`continue`.
struct KubeClusterAPI: ClusterAPI {
    let client: KubeClient
    /// Page size of list calls.
    var pageSize = 500

    /// Runs a request and turns the client's errors into the plugin's: server answers become `APIError`
    /// (keeping kubectl's rendering), everything else (connection, TLS, timeout) a one-line runtime error.
    private func call<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let e as KubeAPIError {
            throw APIError(code: e.code, reason: e.reason, message: e.message, rendered: e.description)
        } catch let e as KubeClientError {
            throw CLIError.runtime(e.description)
        }
    }

    private func parse(_ data: Data) throws -> JSON {
        do { return try JSON.parse(data, skippingKeys: ["managedFields"]) } catch {
            throw CLIError.runtime("the server sent a body that is not JSON (\(data.count) bytes)")
        }
    }

    func serverVersion() async throws -> ServerVersion {
        let v = try parse(try await call { try await client.send(method: "GET", path: "/version") }.body)
        guard let gitVersion = v["gitVersion"].string else { throw CLIError.runtime("the server's /version has no gitVersion") }
        return ServerVersion(gitVersion: gitVersion, major: v["major"].string ?? "", minor: v["minor"].string ?? "")
    }

    func servedVersions(group: String) async throws -> [String] {
        let groups = try await Profile.step("GET /apis (discovery)") {
            try parse(try await call { try await client.send(method: "GET", path: "/apis") }.body)
        }
        guard let g = groups["groups"].elements.first(where: { $0["name"].string == group }) else { return [] }
        var versions = g["versions"].elements.compactMap { $0["version"].string }
        if let preferred = g["preferredVersion"]["version"].string, let i = versions.firstIndex(of: preferred) {
            versions.remove(at: i)
            versions.insert(preferred, at: 0)
        }
        return versions
    }

    func get(_ type: ResourceType, namespace: String?, name: String) async throws -> JSON {
        let r = try await call {
            try await client.send(method: "GET", path: type.path(namespace: namespace, name: name),
                                  resource: type.qualifiedName, name: name)
        }
        return try parse(r.body)
    }

    func list(_ type: ResourceType, namespace: String?, fieldSelector: String?) async throws -> [JSON] {
        var items: [JSON] = []
        var token: String?
        repeat {
            var query = [URLQueryItem(name: "limit", value: String(pageSize))]
            if let fieldSelector { query.append(URLQueryItem(name: "fieldSelector", value: fieldSelector)) }
            if let token { query.append(URLQueryItem(name: "continue", value: token)) }
            let r = try await Profile.step("GET \(type.path(namespace: namespace)) (page \(token == nil ? "1" : "n"))") {
                try await call {
                    try await client.send(method: "GET", path: type.path(namespace: namespace), query: query,
                                          resource: type.qualifiedName)
                }
            }
            let page = try await Profile.step("parse \(r.body.count) bytes") { try parse(r.body) }
            items += page["items"].elements
            token = page["metadata"]["continue"].string.flatMap { $0.isEmpty ? nil : $0 }
        } while token != nil
        return items
    }

    func create(_ type: ResourceType, namespace: String?, object: JSON, dryRun: DryRun) async throws -> JSON {
        var query: [URLQueryItem] = []
        if dryRun == .server { query.append(URLQueryItem(name: "dryRun", value: "All")) }
        let body = Data(object.description.utf8)
        let r = try await call {
            try await client.send(method: "POST", path: type.path(namespace: namespace), query: query, body: body,
                                  resource: type.qualifiedName, name: object["metadata"]["name"].string)
        }
        return try parse(r.body)
    }

    func delete(_ type: ResourceType, namespace: String?, name: String) async throws {
        _ = try await call {
            try await client.send(method: "DELETE", path: type.path(namespace: namespace, name: name),
                                  resource: type.qualifiedName, name: name)
        }
    }
}

/// Connects to the cluster the kubeconfig flags name, loading the kubeconfig exactly as kubectl does.
enum LiveCluster {
    static func connect(_ options: KubeOptions, console: Console) async throws -> ClusterConnection {
        let overrides = ConfigOverrides(
            kubeconfig: options.kubeconfig, context: options.context, cluster: options.cluster, user: options.user,
            namespace: options.namespace,
            requestTimeout: options.requestTimeout.seconds > 0 ? .milliseconds(Int64(options.requestTimeout.seconds * 1000)) : nil)
        var config: ClientConfig
        do {
            let start = ContinuousClock.now
            config = try ClientConfig.load(overrides, environment: .process)
            Profile.record("kubeconfig load", since: start)
        } catch let e as KubeClientError {
            throw CLIError.runtime(e.description)
        }
        if options.insecureSkipTLSVerify { config.tls.insecureSkipVerify = true }
        let client: KubeClient
        let clientStart = ContinuousClock.now
        defer { Profile.record("client set-up (TLS material, HTTP client)", since: clientStart) }
        do {
            client = try KubeClient(config: config, options: .init(
                verbosity: options.verbosity, userAgent: "kubectl-evssnap/\(evssnapVersion)",
                log: { console.err.write($0.hasSuffix("\n") ? $0 : $0 + "\n") },
                warningHandler: { console.warn($0) }))
        } catch let e as KubeClientError {
            throw CLIError.runtime(e.description)
        }
        return ClusterConnection(api: KubeClusterAPI(client: client), defaultNamespace: config.namespace)
    }
}
