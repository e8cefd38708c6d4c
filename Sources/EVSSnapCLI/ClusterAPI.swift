import Foundation
import JSONCore
import KubeClient

// Resource types (`ResourceType`: group, version, plural, kind, REST paths) are KubeCore's (re-exported by KubeClient).

/// The server's `/version` answer.
public struct ServerVersion: Sendable, Hashable {
    /// e.g. `v1.36.2`.
    public var gitVersion: String
    /// e.g. `1`.
    public var major: String
    /// e.g. `36` (may carry a `+` on some distributions).
    public var minor: String

    public init(gitVersion: String, major: String, minor: String) {
        self.gitVersion = gitVersion
        self.major = major
        self.minor = minor
    }
}

/// A write's dry-run mode (`--dry-run`).
public enum DryRun: String, Sendable, CaseIterable {
    /// Nothing is sent.
    case none
    /// Checked locally, nothing sent (`--dry-run=client`).
    case client
    /// Sent with `?dryRun=All`: the server validates and persists nothing (`--dry-run=server`).
    case server
}

/// An error status returned by the API server (a `Status` object), as kubectl shows it.
public struct APIError: Error, Sendable, Hashable, CustomStringConvertible {
    /// HTTP status code.
    public var code: Int
    /// `reason` (`NotFound`, `AlreadyExists`, `Forbidden`, ...); empty when the server sent none.
    public var reason: String
    /// `message`.
    public var message: String
    /// The full text as the Kubernetes client renders it (e.g. an Invalid error with its causes), when it has one.
    public var rendered: String?

    public init(code: Int, reason: String, message: String, rendered: String? = nil) {
        self.code = code
        self.reason = reason
        self.message = message
        self.rendered = rendered
    }

    /// Builds the error from a response body (a Status object, or plain text such as `404 page not found`).
    public init(code: Int, body: JSON?, text: String?) {
        self.code = code
        let reason = body?["reason"].string ?? ""
        self.reason = reason.isEmpty ? APIError.defaultReason(code) : reason
        let msg = body?["message"].string ?? text?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        self.message = msg.isEmpty ? "the server returned HTTP \(code)" : msg
    }

    /// A NotFound error worded like the server's (`volumesnapshots.snapshot.storage.k8s.io "x" not found`).
    public static func notFound(_ type: ResourceType, _ name: String) -> APIError {
        APIError(code: 404, reason: "NotFound", message: "\(type.qualifiedName) \"\(name)\" not found")
    }

    /// An AlreadyExists error worded like the server's.
    public static func alreadyExists(_ type: ResourceType, _ name: String) -> APIError {
        APIError(code: 409, reason: "AlreadyExists", message: "\(type.qualifiedName) \"\(name)\" already exists")
    }

    /// Whether the object did not exist.
    public var isNotFound: Bool { code == 404 }

    /// kubectl's wording: `Error from server (NotFound): ...`.
    public var description: String { rendered ?? "Error from server (\(reason)): \(message)" }

    static func defaultReason(_ code: Int) -> String {
        switch code {
        case 400: return "BadRequest"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "NotFound"
        case 405: return "MethodNotAllowed"
        case 409: return "Conflict"
        case 410: return "Expired"
        case 422: return "Invalid"
        case 429: return "TooManyRequests"
        case 500: return "InternalError"
        case 503: return "ServiceUnavailable"
        case 504: return "Timeout"
        default: return "Unknown"
        }
    }
}

/// The Kubernetes API reads and writes the plugin's commands need, and nothing else.
///
/// Implemented over `KubeClient` for a real cluster (`KubeClusterAPI`) and in memory for tests.
/// Every method throws `APIError` for an error status from the server; other errors
/// (connection refused, TLS) are thrown as they come.
public protocol ClusterAPI: Sendable {
    /// `GET /version`.
    func serverVersion() async throws -> ServerVersion

    /// The versions of `group` the server serves, preferred first; empty when the group is not served.
    func servedVersions(group: String) async throws -> [String]

    /// One object; throws `APIError` NotFound when it does not exist.
    func get(_ type: ResourceType, namespace: String?, name: String) async throws -> JSON

    /// All objects of a type (namespace nil: every namespace or cluster-scoped), following list continuations.
    func list(_ type: ResourceType, namespace: String?, fieldSelector: String?) async throws -> [JSON]

    /// Creates an object; with `.server` dry run nothing is persisted. Returns the object as stored.
    func create(_ type: ResourceType, namespace: String?, object: JSON, dryRun: DryRun) async throws -> JSON

    /// Deletes an object. Deleting an object that is gone throws NotFound (the caller decides).
    func delete(_ type: ResourceType, namespace: String?, name: String) async throws
}

extension ClusterAPI {
    /// The object, or nil when it does not exist.
    public func getIfExists(_ type: ResourceType, namespace: String?, name: String) async throws -> JSON? {
        do { return try await get(type, namespace: namespace, name: name) } catch let e as APIError where e.isNotFound { return nil }
    }
}
