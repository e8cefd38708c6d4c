import JSONCore

/// A REST resource: group, version, plural name, kind and scope. Builds request paths.
public struct ResourceType: Sendable, Hashable, CustomStringConvertible {
    /// API group; empty for the core group (`/api/v1`).
    public var group: String
    public var version: String
    /// Lower-case plural used in URLs (`volumesnapshots`).
    public var plural: String
    /// Kind of one object (`VolumeSnapshot`).
    public var kind: String
    /// True for namespaced resources.
    public var namespaced: Bool

    public init(group: String, version: String, plural: String, kind: String, namespaced: Bool) {
        self.group = group; self.version = version; self.plural = plural; self.kind = kind; self.namespaced = namespaced
    }

    /// `snapshot.storage.k8s.io/v1`, or `v1` for the core group.
    public var groupVersion: String { group.isEmpty ? version : "\(group)/\(version)" }
    /// `volumesnapshots.snapshot.storage.k8s.io`, or `persistentvolumeclaims` for the core group (as in kubectl messages).
    public var qualifiedName: String { group.isEmpty ? plural : "\(plural).\(group)" }
    public var description: String { "\(qualifiedName) (\(groupVersion))" }

    /// The same resource in another version (e.g. snapshot `v1beta1` on old clusters).
    public func withVersion(_ v: String) -> ResourceType {
        var r = self; r.version = v; return r
    }

    /// Percent-encodes one path segment.
    static func segment(_ s: String) -> String { Text.percentEncoded(s, keeping: ":@!$&'()*+,;=") }

    /// Request path: `/apis/G/V[/namespaces/NS]/PLURAL[/NAME]`. `namespace` nil on a namespaced resource means all namespaces.
    public func path(namespace: String? = nil, name: String? = nil, subresource: String? = nil) -> String {
        var p = group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)"
        if namespaced, let namespace, !namespace.isEmpty { p += "/namespaces/\(ResourceType.segment(namespace))" }
        p += "/\(plural)"
        if let name { p += "/\(ResourceType.segment(name))" }
        if let subresource { p += "/\(subresource)" }
        return p
    }

    // Core group.
    public static let namespaces = ResourceType(group: "", version: "v1", plural: "namespaces", kind: "Namespace", namespaced: false)
    public static let persistentVolumeClaims = ResourceType(group: "", version: "v1", plural: "persistentvolumeclaims", kind: "PersistentVolumeClaim", namespaced: true)
    public static let persistentVolumes = ResourceType(group: "", version: "v1", plural: "persistentvolumes", kind: "PersistentVolume", namespaced: false)
    public static let events = ResourceType(group: "", version: "v1", plural: "events", kind: "Event", namespaced: true)
    public static let nodes = ResourceType(group: "", version: "v1", plural: "nodes", kind: "Node", namespaced: false)
    // storage.k8s.io
    public static let storageClasses = ResourceType(group: "storage.k8s.io", version: "v1", plural: "storageclasses", kind: "StorageClass", namespaced: false)
    public static let csiDrivers = ResourceType(group: "storage.k8s.io", version: "v1", plural: "csidrivers", kind: "CSIDriver", namespaced: false)
    // events.k8s.io
    public static let eventsV1 = ResourceType(group: "events.k8s.io", version: "v1", plural: "events", kind: "Event", namespaced: true)
    // snapshot.storage.k8s.io (v1; `withVersion("v1beta1")` on clusters that serve only that).
    public static let snapshotGroup = "snapshot.storage.k8s.io"
    public static let volumeSnapshots = ResourceType(group: snapshotGroup, version: "v1", plural: "volumesnapshots", kind: "VolumeSnapshot", namespaced: true)
    public static let volumeSnapshotContents = ResourceType(group: snapshotGroup, version: "v1", plural: "volumesnapshotcontents", kind: "VolumeSnapshotContent", namespaced: false)
    public static let volumeSnapshotClasses = ResourceType(group: snapshotGroup, version: "v1", plural: "volumesnapshotclasses", kind: "VolumeSnapshotClass", namespaced: false)
}

/// Options of a list request.
public struct ListOptions: Sendable, Equatable {
    /// `limit`: page size (nil: server default, everything at once).
    public var limit: Int?
    /// `continue` token from the previous page.
    public var continueToken: String?
    /// `labelSelector`, e.g. `app=db`.
    public var labelSelector: String?
    /// `fieldSelector`, e.g. `involvedObject.name=snap-1` (core events) or `metadata.name=x`.
    public var fieldSelector: String?
    /// `resourceVersion` (for watches and consistent reads).
    public var resourceVersion: String?
    /// `timeoutSeconds`: how long the server keeps a watch open.
    public var timeoutSeconds: Int?
    public init(limit: Int? = nil, continueToken: String? = nil, labelSelector: String? = nil,
                fieldSelector: String? = nil, resourceVersion: String? = nil, timeoutSeconds: Int? = nil) {
        self.limit = limit; self.continueToken = continueToken; self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector; self.resourceVersion = resourceVersion; self.timeoutSeconds = timeoutSeconds
    }
    public var queryItems: [QueryItem] {
        var q: [QueryItem] = []
        if let labelSelector { q.append(.init(name: "labelSelector", value: labelSelector)) }
        if let fieldSelector { q.append(.init(name: "fieldSelector", value: fieldSelector)) }
        if let limit { q.append(.init(name: "limit", value: String(limit))) }
        if let continueToken, !continueToken.isEmpty { q.append(.init(name: "continue", value: continueToken)) }
        if let resourceVersion { q.append(.init(name: "resourceVersion", value: resourceVersion)) }
        if let timeoutSeconds { q.append(.init(name: "timeoutSeconds", value: String(timeoutSeconds))) }
        return q
    }
}

/// One `name=value` of a request's query.
public struct QueryItem: Sendable, Equatable {
    public var name: String
    public var value: String
    public init(name: String, value: String?) { self.name = name; self.value = value ?? "" }
}

/// What both programs' REST calls share, whatever carries them: the request URL, the `Warning` headers, error
/// answers decoded once into ``KubeAPIError``, and watch lines.
public enum KubeREST {
    /// Encodes query items strictly (everything but unreserved characters), so selectors and continue tokens survive.
    public static func encodeQuery(_ items: [QueryItem]) -> String {
        items.map { "\(Text.percentEncoded($0.name))=\(Text.percentEncoded($0.value))" }.joined(separator: "&")
    }

    /// `server` + `path` + `?query` (no query mark when there is none).
    public static func url(server: String, path: String, query: [QueryItem] = []) -> String {
        var base = server
        while base.hasSuffix("/") { base.removeLast() }
        let q = encodeQuery(query)
        return base + path + (q.isEmpty ? "" : "?" + q)
    }

    /// Throws the answer as ``KubeAPIError`` unless its status is 2xx.
    public static func check(status: Int, body: [UInt8], method: String, path: String, resource: String? = nil,
                             name: String? = nil, warnings: [String] = []) throws(KubeAPIError) {
        guard !(200..<300).contains(status) else { return }
        throw KubeAPIError.from(httpStatus: status, body: body, method: method, path: path, resource: resource,
                                name: name, warnings: warnings)
    }

    /// Splits `Warning` header values (`299 - "text"`, possibly several per header) into their texts.
    public static func parseWarnings(_ values: [String]) -> [String] {
        var out: [String] = []
        for v in values {
            var rest = Substring(v)
            while !rest.isEmpty {
                // code SP agent SP quoted-text [SP date]
                rest = rest.drop { $0 == " " || $0 == "," }
                guard let q = rest.firstIndex(of: "\"") else {
                    let t = Text.trimmed(rest)
                    if !t.isEmpty { out.append(t) }
                    break
                }
                var text = ""
                var i = rest.index(after: q)
                var escaped = false
                while i < rest.endIndex {
                    let c = rest[i]
                    if escaped { text.append(c); escaped = false } else if c == "\\" { escaped = true } else if c == "\"" { break } else { text.append(c) }
                    i = rest.index(after: i)
                }
                out.append(text)
                rest = i < rest.endIndex ? rest[rest.index(after: i)...] : ""
                // Skip an optional quoted date (it contains a comma), then up to the next comma.
                rest = rest.drop { $0 == " " }
                if rest.first == "\"" {
                    rest = rest.dropFirst()
                    if let close = rest.firstIndex(of: "\"") { rest = rest[rest.index(after: close)...] } else { rest = "" }
                }
                if let comma = rest.firstIndex(of: ",") { rest = rest[rest.index(after: comma)...] } else { rest = "" }
            }
        }
        return out
    }

    /// Decodes one watch line `{"type":..., "object":...}`; ERROR events throw the Status as ``KubeAPIError``.
    public static func decodeWatchLine(_ line: [UInt8], path: String = "") throws -> WatchEvent {
        let event: JSON
        do { event = try JSON.parse(line) } catch {
            throw KubeClientError.decoding(what: "watch event", reason: "\(error)")
        }
        guard let type = event["type"].string else {
            throw KubeClientError.decoding(what: "watch event", reason: "no type")
        }
        if type == "ERROR" {
            let st = Status(json: event["object"]) ?? Status(message: "watch error", reason: "Unknown")
            throw KubeAPIError(httpStatus: st.code ?? 500, status: st, isStatusObject: true, method: "GET", path: path)
        }
        guard case .object = event["object"] else {
            throw KubeClientError.decoding(what: "watch event \(type)", reason: "no object")
        }
        return WatchEvent(type: type, object: event["object"])
    }
}

/// One event of a watch stream.
public struct WatchEvent: Sendable {
    /// `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK` (ERROR events are thrown as ``KubeAPIError``).
    public var type: String
    public var object: JSON
    public init(type: String, object: JSON) { self.type = type; self.object = object }
}
