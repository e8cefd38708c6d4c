// REST verbs: get, list, listAll, create, delete.
import Foundation
import JSONCore
import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

extension KubeClient {
    // MARK: - REST verbs

    /// GET one object. `namespace` nil means the configured namespace (ignored for cluster-scoped resources).
    public func get<T: Decodable & Sendable>(_ type: T.Type, _ resource: ResourceType, name: String,
                                             namespace: String? = nil) async throws -> T {
        let r = try await send(method: "GET", path: resource.path(namespace: namespaceFor(resource, namespace), name: name),
                               resource: resource.qualifiedName, name: name)
        return try decode(T.self, r.body, what: "\(resource.kind) \"\(name)\"")
    }

    /// GET one page of a list. For a namespaced resource: `namespace` nil means the configured namespace, unless
    /// `allNamespaces` is true. Use `options.limit`/`options.continueToken` to page.
    public func list<T: Codable & Sendable>(_ type: T.Type, _ resource: ResourceType, namespace: String? = nil,
                                            allNamespaces: Bool = false, options: ListOptions = ListOptions()) async throws -> ObjectList<T> {
        let ns = allNamespaces ? nil : namespaceFor(resource, namespace)
        let r = try await send(method: "GET", path: resource.path(namespace: ns), query: options.queryItems,
                               resource: resource.qualifiedName)
        return try decode(ObjectList<T>.self, r.body, what: "\(resource.kind)List")
    }

    /// Lists everything, following `continue` tokens page by page (`limit` = pageSize).
    public func listAll<T: Codable & Sendable>(_ type: T.Type, _ resource: ResourceType, namespace: String? = nil,
                                               allNamespaces: Bool = false, pageSize: Int = 500,
                                               options: ListOptions = ListOptions()) async throws -> [T] {
        var opts = options
        opts.limit = pageSize
        opts.continueToken = nil
        var items: [T] = []
        var pages = 0
        while true {
            let page = try await list(T.self, resource, namespace: namespace, allNamespaces: allNamespaces, options: opts)
            items += page.items
            pages += 1
            guard let next = page.metadata.continue, !next.isEmpty else { break }
            guard pages < 100_000 else { break }  // a server that never ends the list must not loop forever
            opts.continueToken = next
        }
        return items
    }

    /// POST a new object and decode the answer as `R`. `options.dryRun` sends `dryRun=All` (nothing is persisted).
    public func create<Body: Encodable & Sendable, R: Decodable & Sendable>(_ object: Body, as: R.Type, _ resource: ResourceType,
                                                                           namespace: String? = nil,
                                                                           options: CreateOptions = CreateOptions()) async throws -> KubeResult<R> {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let body = try enc.encode(object)
        var name: String?
        if let o = try? JSONSerialization.jsonObject(with: body) as? [String: Any], let m = o["metadata"] as? [String: Any] {
            name = m["name"] as? String
        }
        let r = try await send(method: "POST", path: resource.path(namespace: namespaceFor(resource, namespace)),
                               query: options.queryItems, body: body, resource: resource.qualifiedName, name: name)
        return KubeResult(object: try decode(R.self, r.body, what: "created \(resource.kind)"), warnings: r.warnings)
    }

    /// DELETE one object. Returns the answer body (the object with deletionTimestamp, or a Success Status) as JSON.
    @discardableResult
    public func delete(_ resource: ResourceType, name: String, namespace: String? = nil,
                       options: DeleteOptions = DeleteOptions()) async throws -> KubeResult<JSON> {
        let r = try await send(method: "DELETE", path: resource.path(namespace: namespaceFor(resource, namespace), name: name),
                               query: options.queryItems, resource: resource.qualifiedName, name: name)
        let v = (try? JSONDecoder().decode(JSON.self, from: r.body)) ?? .null
        return KubeResult(object: v, warnings: r.warnings)
    }
}
