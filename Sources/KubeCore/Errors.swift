import JSONCore

/// Failures of the client itself: configuration, credentials, transport, decoding, discovery.
/// API errors returned by the server are ``KubeAPIError``. Messages never contain a token or key.
public enum KubeClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No kubeconfig file was found and the process does not run inside a cluster.
    case noConfiguration(triedPaths: [String])
    /// A kubeconfig file named explicitly (`--kubeconfig`) does not exist or cannot be read.
    case kubeconfigNotFound(path: String)
    /// A kubeconfig file is not valid YAML or has the wrong shape.
    case invalidKubeconfig(path: String, reason: String)
    /// The context named by `--context` or current-context is not in the merged kubeconfig.
    case contextNotFound(String)
    /// The cluster named by the context or `--cluster` is not in the merged kubeconfig.
    case clusterNotFound(String)
    /// The user named by the context or `--user` is not in the merged kubeconfig.
    case userNotFound(String)
    /// No context is selected: current-context is empty and no `--context` was given.
    case noCurrentContext
    /// The selected cluster has no `server`.
    case missingServer(cluster: String)
    /// A referenced file (certificate, key, token file) cannot be read.
    case unreadableFile(what: String, path: String)
    /// In-cluster configuration was selected but the service account files are missing.
    case inClusterUnavailable(reason: String)
    /// The exec credential plugin could not be started (not found / not executable).
    case execPluginNotFound(command: String, installHint: String?)
    /// The exec credential plugin ran and failed, or printed something that is not an ExecCredential.
    case execPluginFailed(command: String, reason: String, stderr: String)
    /// A TLS certificate or key could not be loaded.
    case invalidTLSMaterial(String)
    /// The server could not be reached or the connection failed.
    case transport(url: String, reason: String)
    /// The request did not complete within `--request-timeout`.
    case timeout(url: String, seconds: Double)
    /// A response body did not decode into the expected type.
    case decoding(what: String, reason: String)
    /// The configured server URL is not a valid https/http URL.
    case invalidServerURL(String)

    public var description: String { Redactor.shared.redact(rawDescription) }

    private var rawDescription: String {
        switch self {
        case .noConfiguration(let tried):
            let where_ = tried.isEmpty ? "" : " (looked for kubeconfig at \(tried.joined(separator: ", ")))"
            return "no configuration has been provided\(where_): set --kubeconfig or KUBECONFIG, or run inside a cluster"
        case .kubeconfigNotFound(let path):
            return "stat \(path): no such file or directory (from --kubeconfig)"
        case .invalidKubeconfig(let path, let reason):
            return "error loading config file \"\(path)\": \(reason)"
        case .contextNotFound(let name):
            return "context \"\(name)\" not found in kubeconfig"
        case .clusterNotFound(let name):
            return "cluster \"\(name)\" not found in kubeconfig"
        case .userNotFound(let name):
            return "user \"\(name)\" not found in kubeconfig"
        case .noCurrentContext:
            return "current-context is not set in kubeconfig: use --context or `kubectl config use-context NAME`"
        case .missingServer(let cluster):
            return "cluster \"\(cluster)\" has no server in kubeconfig"
        case .unreadableFile(let what, let path):
            return "unable to read \(what) from \"\(path)\""
        case .inClusterUnavailable(let reason):
            return "unable to load in-cluster configuration: \(reason)"
        case .execPluginNotFound(let command, let hint):
            var s = "exec: executable \(command) not found\n\nIt looks like you are trying to use a client-go credential plugin that is not installed."
            if let hint, !hint.isEmpty { s += "\n\n\(hint)" }
            return s
        case .execPluginFailed(let command, let reason, let stderr):
            var s = "exec: executable \(command) failed: \(reason)"
            let e = Text.trimmed(stderr)
            if !e.isEmpty { s += "\nplugin stderr:\n\(e)" }
            return s
        case .invalidTLSMaterial(let reason):
            return "invalid TLS material: \(reason)"
        case .transport(let url, let reason):
            return "unable to connect to the server \(url): \(reason)"
        case .timeout(let url, let seconds):
            return "the request to \(url) timed out after \(Text.seconds(seconds)) (--request-timeout)"
        case .decoding(let what, let reason):
            return "unable to decode \(what): \(reason)"
        case .invalidServerURL(let s):
            return "invalid server URL \"\(s)\" in kubeconfig"
        }
    }
}


/// One cause inside a `Status.details` (field validation error).
public struct StatusCause: Sendable, Equatable {
    /// Machine-readable cause, e.g. `FieldValueInvalid`.
    public var reason: String?
    /// Human-readable description.
    public var message: String?
    /// The field at fault, e.g. `metadata.name`.
    public var field: String?
    public init(reason: String? = nil, message: String? = nil, field: String? = nil) {
        self.reason = reason; self.message = message; self.field = field
    }
}

/// `Status.details` as the API server sends it.
public struct StatusDetails: Sendable, Equatable {
    public var name: String?
    public var group: String?
    public var kind: String?
    public var uid: String?
    public var causes: [StatusCause]?
    public var retryAfterSeconds: Int?
    public init(name: String? = nil, group: String? = nil, kind: String? = nil, uid: String? = nil,
                causes: [StatusCause]? = nil, retryAfterSeconds: Int? = nil) {
        self.name = name; self.group = group; self.kind = kind; self.uid = uid
        self.causes = causes; self.retryAfterSeconds = retryAfterSeconds
    }
}

/// The `Status` kind (meta/v1) returned by the API server for failures and some deletes.
public struct Status: Sendable, Equatable {
    public var kind: String?
    public var apiVersion: String?
    /// `Success` or `Failure`.
    public var status: String?
    public var message: String?
    /// `NotFound`, `AlreadyExists`, `Forbidden`, `Invalid`, `Unauthorized`, `BadRequest`, `Expired`...
    public var reason: String?
    public var details: StatusDetails?
    public var code: Int?
    public init(kind: String? = "Status", apiVersion: String? = "v1", status: String? = "Failure", message: String? = nil,
                reason: String? = nil, details: StatusDetails? = nil, code: Int? = nil) {
        self.kind = kind; self.apiVersion = apiVersion; self.status = status; self.message = message
        self.reason = reason; self.details = details; self.code = code
    }
}

/// An error answer from the API server (HTTP status >= 400), decoded from its `Status` body, or synthesised
/// the way client-go does when the body is not a Status (e.g. the plain-text `404 page not found`).
/// `description` renders exactly like kubectl: `Error from server (NotFound): volumesnapshots.snapshot.storage.k8s.io "x" not found`.
public struct KubeAPIError: Error, Sendable, Equatable, CustomStringConvertible {
    /// HTTP status code of the response.
    public var httpStatus: Int
    /// The decoded (or synthesised) Status.
    public var status: Status
    /// True when the body was a real `Status` object; false when synthesised from a non-JSON body.
    public var isStatusObject: Bool
    /// The raw body text when it was not a Status (redacted, at most 1 KiB).
    public var rawBody: String?
    /// Request method (`GET`, `POST`...).
    public var method: String
    /// Request path with query.
    public var path: String
    /// Warning headers that came with the error response.
    public var warnings: [String]

    public init(httpStatus: Int, status: Status, isStatusObject: Bool, rawBody: String? = nil,
                method: String, path: String, warnings: [String] = []) {
        self.httpStatus = httpStatus; self.status = status; self.isStatusObject = isStatusObject
        self.rawBody = rawBody; self.method = method; self.path = path; self.warnings = warnings
    }

    /// `status.reason`, or `Unknown`.
    public var reason: String { status.reason ?? "Unknown" }
    /// `status.code`, or the HTTP status.
    public var code: Int { status.code ?? httpStatus }
    /// `status.message`.
    public var message: String { status.message ?? "" }
    public var isNotFound: Bool { reason == "NotFound" || (reason == "Unknown" && code == 404) }
    public var isAlreadyExists: Bool { reason == "AlreadyExists" }
    public var isForbidden: Bool { reason == "Forbidden" || code == 403 }
    public var isUnauthorized: Bool { reason == "Unauthorized" || code == 401 }
    public var isInvalid: Bool { reason == "Invalid" || code == 422 }
    public var isConflict: Bool { reason == "Conflict" || code == 409 }
    /// Watch `ERROR` event with 410 Expired/Gone: the resourceVersion is too old.
    public var isExpired: Bool { reason == "Expired" || reason == "Gone" || code == 410 }

    /// kubectl's rendering (cmdutil.CheckErr + StandardErrorMessage), redacted.
    public var description: String { Redactor.shared.redact(rendered) }

    private var rendered: String {
        if isInvalid, let details = status.details, let causes = details.causes, !causes.isEmpty, isStatusObject {
            var head = "The request is invalid"
            if let kind = details.kind, !kind.isEmpty || !(details.name ?? "").isEmpty {
                head = "The \(kind) \"\(details.name ?? "")\" is invalid"
            } else if let name = details.name, !name.isEmpty {
                head = "The \"\(name)\" is invalid"
            }
            let lines = causes.map { c -> String in
                let f = c.field ?? ""
                return f.isEmpty ? (c.message ?? "") : "\(f): \(c.message ?? "")"
            }
            if lines.count == 1 { return "\(head): \(lines[0])" }
            return "\(head): \n" + lines.map { "* \($0)" }.joined(separator: "\n")
        }
        if reason == "Unauthorized" {
            return "error: You must be logged in to the server (\(message))"
        }
        if let r = status.reason, !r.isEmpty {
            return "Error from server (\(r)): \(message)"
        }
        return "Error from server: \(message)"
    }
}

extension KubeAPIError {
    /// Builds the error for a failed response the way client-go does: a Status body is used as is; any other body
    /// becomes a synthesised Status (client-go `NewGenericServerResponse`).
    /// - Parameters: `resource` is the qualified resource (`volumesnapshots.snapshot.storage.k8s.io`) and `name` the object name, when known.
    public static func from(httpStatus: Int, body: [UInt8], method: String, path: String,
                            resource: String? = nil, name: String? = nil, warnings: [String] = []) -> KubeAPIError {
        if let object = try? JSON.parse(body), let status = Status(json: object), status.kind == "Status" {
            return KubeAPIError(httpStatus: httpStatus, status: status, isStatusObject: true,
                                method: method, path: path, warnings: warnings)
        }
        let text = String(decoding: body.prefix(1024), as: UTF8.self)
        let serverMessage = Text.trimmed(text)
        var reason = "Unknown"
        var message = "the server responded with the status code \(httpStatus) but did not return more information"
        switch httpStatus {
        case 409: reason = "Conflict"; message = "the server reported a conflict"
        case 404: reason = "NotFound"; message = "the server could not find the requested resource"
        case 400: reason = "BadRequest"; message = "the server rejected our request for an unknown reason"
        case 401: reason = "Unauthorized"; message = "the server has asked for the client to provide credentials"
        case 403: reason = "Forbidden"; message = serverMessage
        case 405: reason = "MethodNotAllowed"; message = "the server does not allow this method on the requested resource"
        case 406, 415: reason = httpStatus == 406 ? "NotAcceptable" : "UnsupportedMediaType"
            message = "the server was unable to respond with a content type that the client supports"
        case 422: reason = "Invalid"; message = "the server rejected our request due to an error in our request"
        case 429: reason = "TooManyRequests"; message = "the server has received too many requests and has asked us to try again later"
        case 503: reason = "ServiceUnavailable"; message = "the server is currently unable to handle the request"
        case 504: reason = "Timeout"
            message = "the server was unable to return a response in the time allotted, but may still be processing the request"
        default:
            if httpStatus >= 500 {
                reason = "InternalError"
                message = "an error on the server (\"\(serverMessage)\") has prevented the request from succeeding"
            }
        }
        if httpStatus != 401 {
            let verb = method.lowercased()
            switch (resource, name) {
            case let (r?, n?) where !r.isEmpty && !n.isEmpty: message += " (\(verb) \(r) \(n))"
            case let (r?, _) where !r.isEmpty: message += " (\(verb) \(r))"
            default: break
            }
        }
        let status = Status(message: message, reason: reason,
                            details: (resource != nil || name != nil) ? StatusDetails(name: name, kind: resource) : nil,
                            code: httpStatus)
        return KubeAPIError(httpStatus: httpStatus, status: status, isStatusObject: false,
                            rawBody: Redactor.shared.redact(text), method: method, path: path, warnings: warnings)
    }
}

extension Status {
    /// A `Status` object read from JSON; nil when `json` is not an object.
    public init?(json: JSON) {
        guard case .object = json else { return nil }
        let d = json["details"]
        var details: StatusDetails?
        if case .object = d {
            let causes = d["causes"].array.map { list in
                list.map { StatusCause(reason: $0["reason"].string, message: $0["message"].string, field: $0["field"].string) }
            }
            details = StatusDetails(name: d["name"].string, group: d["group"].string, kind: d["kind"].string,
                                    uid: d["uid"].string, causes: causes, retryAfterSeconds: d["retryAfterSeconds"].int)
        }
        self.init(kind: json["kind"].string, apiVersion: json["apiVersion"].string, status: json["status"].string,
                  message: json["message"].string, reason: json["reason"].string, details: details, code: json["code"].int)
    }
}
