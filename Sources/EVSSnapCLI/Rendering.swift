import Foundation
import JSONCore
import KubeClient

/// A kubectl-style table: upper-case headers, columns left-aligned and separated by three spaces.
public struct Table: Sendable {
    /// Header cells.
    public var headers: [String]
    /// Rows; each has as many cells as there are headers.
    public var rows: [[String]] = []

    public init(headers: [String]) { self.headers = headers }

    /// Adds a row.
    public mutating func append(_ row: [String]) { rows.append(row) }

    /// The table as text, one line per row, each ending with a newline.
    public func render() -> String {
        var widths = headers.map(\.count)
        for r in rows { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
        var out = ""
        for r in [headers] + rows {
            var line = ""
            for (i, c) in r.enumerated() {
                line += c
                if i < r.count - 1 { line += String(repeating: " ", count: widths[i] + 3 - c.count) }
            }
            out += line + "\n"
        }
        return out
    }
}

/// How objects are printed after a write or by `list -o`.
enum ObjectPrinter {
    /// `volumesnapshot.snapshot.storage.k8s.io/NAME` as `-o name` prints it.
    static func name(_ type: ResourceType, _ name: String) -> String {
        let kind = type.kind.lowercased()
        return type.group.isEmpty ? "\(kind)/\(name)" : "\(kind).\(type.group)/\(name)"
    }

    /// The line kubectl prints after a create: `volumesnapshot.snapshot.storage.k8s.io/NAME created (server dry run)`.
    static func created(_ type: ResourceType, _ objectName: String, dryRun: DryRun) -> String {
        let suffix: String
        switch dryRun {
        case .none: suffix = ""
        case .client: suffix = " (dry run)"
        case .server: suffix = " (server dry run)"
        }
        return "\(name(type, objectName)) created\(suffix)"
    }

    /// One object in the requested format; nil format = the `created` line.
    static func render(_ object: JSON, type: ResourceType, format: WriteOutputFormat) -> String {
        switch format {
        case .yaml: return object.yaml()
        case .json: return object.prettyPrinted() + "\n"
        case .name: return name(type, object["metadata"]["name"].string ?? "") + "\n"
        }
    }

    /// A `kind: List` wrapper, as `kubectl get -o yaml|json` prints several objects.
    static func list(_ items: [JSON]) -> JSON {
        ["apiVersion": "v1", "kind": "List", "items": .array(items), "metadata": ["resourceVersion": ""]]
    }
}
