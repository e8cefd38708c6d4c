import EVSSnapCLI
import Foundation
import JSONCore
import Synchronization
import struct KubeClient.ResourceType

/// An in-memory Kubernetes API for the command tests: objects keyed by resource, namespace and name,
/// Kubernetes' error statuses (NotFound, AlreadyExists), server dry run, and a log of every write.
final class InMemoryCluster: ClusterAPI {
    struct Key: Hashable { var plural: String; var namespace: String; var name: String }
    struct Write: Equatable { var verb: String; var plural: String; var name: String; var dryRun: DryRun }
    struct State {
        var objects: [Key: JSON] = [:]
        var writes: [Write] = []
        var version = ServerVersion(gitVersion: "v1.36.2", major: "1", minor: "36")
        var served: [String: [String]] = ["snapshot.storage.k8s.io": ["v1"]]
        var gets: [String: Int] = [:]
        var failures: [String: APIError] = [:]
    }
    // Guards all state; test tasks and the command under test both touch it.
    let state = Mutex(State())
    /// Called after each GET of a named object, with the number of GETs of it so far (to script --wait).
    let afterGet: Mutex<(@Sendable (InMemoryCluster, String, Int) -> Void)?> = Mutex(nil)

    func put(_ type: ResourceType, _ object: JSON) {
        let key = Key(plural: type.plural, namespace: type.namespaced ? (object["metadata"]["namespace"].string ?? "") : "",
                      name: object["metadata"]["name"].string ?? "")
        state.withLock { $0.objects[key] = object }
    }

    func remove(_ type: ResourceType, namespace: String?, name: String) {
        state.withLock { _ = $0.objects.removeValue(forKey: Key(plural: type.plural, namespace: type.namespaced ? namespace ?? "" : "", name: name)) }
    }

    func object(_ type: ResourceType, namespace: String?, name: String) -> JSON? {
        state.withLock { $0.objects[Key(plural: type.plural, namespace: type.namespaced ? namespace ?? "" : "", name: name)] }
    }

    var writes: [Write] { state.withLock { $0.writes } }

    /// Makes every request for `plural` fail with `error` (e.g. 403 Forbidden).
    func fail(_ plural: String, with error: APIError) { state.withLock { $0.failures[plural] = error } }

    private func check(_ plural: String) throws {
        if let e = state.withLock({ $0.failures[plural] }) { throw e }
    }

    func serverVersion() async throws -> ServerVersion { state.withLock { $0.version } }

    func servedVersions(group: String) async throws -> [String] { state.withLock { $0.served[group] ?? [] } }

    func get(_ type: ResourceType, namespace: String?, name: String) async throws -> JSON {
        try check(type.plural)
        let key = Key(plural: type.plural, namespace: type.namespaced ? namespace ?? "" : "", name: name)
        let (found, count) = state.withLock { s -> (JSON?, Int) in
            s.gets[type.plural + "/" + name, default: 0] += 1
            return (s.objects[key], s.gets[type.plural + "/" + name]!)
        }
        if let hook = afterGet.withLock({ $0 }) { hook(self, name, count) }
        guard let found else { throw APIError.notFound(type, name) }
        return found
    }

    func list(_ type: ResourceType, namespace: String?, fieldSelector: String?) async throws -> [JSON] {
        try check(type.plural)
        // The real server's answer for a collection of a group/version it does not serve.
        if type.group == "snapshot.storage.k8s.io", !(state.withLock { $0.served[type.group] ?? [] }).contains(type.version) {
            throw APIError(code: 404, reason: "NotFound", message: "the server could not find the requested resource")
        }
        var items = state.withLock { s in
            s.objects.filter { $0.key.plural == type.plural && (namespace == nil || !type.namespaced || $0.key.namespace == namespace) }
                .sorted { ($0.key.namespace, $0.key.name) < ($1.key.namespace, $1.key.name) }.map(\.value)
        }
        for term in (fieldSelector ?? "").split(separator: ",") {
            let parts = term.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            let path = parts[0].split(separator: ".").map(String.init)
            items = items.filter { obj in path.reduce(obj) { $0[$1] }.string == parts[1] }
        }
        return items
    }

    func create(_ type: ResourceType, namespace: String?, object: JSON, dryRun: DryRun) async throws -> JSON {
        try check(type.plural)
        let name = object["metadata"]["name"].string ?? ""
        var stored = object
        stored["metadata"]["uid"] = .string(UUID().uuidString.lowercased())
        stored["metadata"]["creationTimestamp"] = "2026-11-27T21:00:00Z"
        let key = Key(plural: type.plural, namespace: type.namespaced ? namespace ?? "" : "", name: name)
        return try state.withLock { s in
            if s.objects[key] != nil { throw APIError.alreadyExists(type, name) }
            s.writes.append(Write(verb: "create", plural: type.plural, name: name, dryRun: dryRun))
            if dryRun != .server { s.objects[key] = stored }
            return stored
        }
    }

    func delete(_ type: ResourceType, namespace: String?, name: String) async throws {
        try check(type.plural)
        let key = Key(plural: type.plural, namespace: type.namespaced ? namespace ?? "" : "", name: name)
        try state.withLock { s in
            guard s.objects.removeValue(forKey: key) != nil else { throw APIError.notFound(type, name) }
            s.writes.append(Write(verb: "delete", plural: type.plural, name: name, dryRun: .none))
        }
    }
}
