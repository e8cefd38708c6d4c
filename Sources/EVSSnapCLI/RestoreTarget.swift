import EVSSnapshotRules
import Foundation
import JSONCore
import Yams

/// A Kubernetes object read from a file (`-f FILE`, `-` for stdin), in YAML or JSON, as kubectl accepts it.
enum ManifestFile {
    static func read(_ path: String) throws -> JSON {
        let text: String
        if path == "-" {
            text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        } else {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw CLIError.runtime("the path \"\(path)\" does not exist")
            }
            text = String(decoding: data, as: UTF8.self)
        }
        var documents: [Any] = []
        do {
            var sequence = try Yams.load_all(yaml: text)
            while let document = sequence.next() { if !(document is NSNull) { documents.append(document) } }
            if let error = sequence.error { throw error }
        } catch {
            throw CLIError.runtime("error parsing \(path): \(error)")
        }
        guard documents.count == 1, let object = JSON(yaml: documents[0]), object["kind"].string != nil else {
            throw CLIError.runtime("\(path) must hold one Kubernetes object (found \(documents.count) documents)")
        }
        return object
    }
}

extension JSON {
    /// A value from Yams' `Any` tree; YAML scalars keep their written form where Kubernetes reads a string.
    init?(yaml: Any) {
        switch yaml {
        case let s as String: self = .string(s)
        case let b as Bool: self = .bool(b)
        case let i as Int: self = .int(Int64(i))
        case let d as Double: self = .number(d)
        case let a as [Any]: self = .array(a.compactMap { JSON(yaml: $0) })
        case let m as [AnyHashable: Any]:
            var o: [String: JSON] = [:]
            for (k, v) in m { if let key = k.base as? String ?? (k.base as? CustomStringConvertible)?.description { o[key] = JSON(yaml: v) ?? .null } }
            self = .object(o)
        case is NSNull: self = .null
        default: return nil
        }
    }

    /// A scalar as the text Kubernetes would read (`10` and `'10'` are both the quantity "10").
    var scalarText: String? {
        switch self {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .number(let d): return JSON.number(d).description
        case .bool(let b): return String(b)
        default: return nil
        }
    }
}

/// R7-R12 for a restore PVC the user wrote (`check -f pvc.yaml`, `restore -f pvc.yaml`): the same checks as
/// the PVC `restore` builds itself, against the snapshot its dataSource names.
enum RestoreTarget {
    /// The R10 fields of a PVC object.
    static func shape(_ pvc: JSON, namespace: String) -> RestorePVCShape {
        let spec = pvc["spec"]
        let ds = spec["dataSource"].isNull ? spec["dataSourceRef"] : spec["dataSource"]
        return RestorePVCShape(
            name: pvc["metadata"]["name"].string ?? "",
            namespace: pvc["metadata"]["namespace"].string ?? namespace,
            storageClassName: spec["storageClassName"].string ?? pvc["metadata"]["annotations"]["volume.beta.kubernetes.io/storage-class"].string,
            annotations: pvc["metadata"]["annotations"].stringMap,
            labels: pvc["metadata"]["labels"].stringMap,
            accessModes: spec["accessModes"].elements.compactMap(\.string),
            storage: spec["resources"]["requests"]["storage"].scalarText ?? "",
            dataSource: ds.isNull ? nil : .init(kind: ds["kind"].string ?? "", apiGroup: ds["apiGroup"].string, name: ds["name"].string ?? ""))
    }

    struct Result {
        var outcomes: [RuleOutcome] = []
        var warnings: [String] = []
        /// The PVC as it would be created (the file's object, with the namespace in effect).
        var object: JSON
        var namespace: String
    }

    /// Checks `object` (a PersistentVolumeClaim) as a restore of the VolumeSnapshot its dataSource names.
    static func check(_ object: JSON, session: Session) async throws -> Result {
        guard object["kind"].string == "PersistentVolumeClaim" else {
            throw CLIError.runtime("the object is a \(object["kind"].string ?? "<no kind>"), not a PersistentVolumeClaim")
        }
        let ns = object["metadata"]["namespace"].string ?? session.namespace
        var pvc = object
        pvc["metadata"]["namespace"] = .string(ns)
        var result = Result(object: pvc, namespace: ns)
        let shape = shape(object, namespace: ns)
        if shape.name.isEmpty { throw CLIError.runtime("the PersistentVolumeClaim has no metadata.name") }
        if let w = Rules.quantityWarning(shape.storage) { result.warnings.append(w) }

        // R7: only a new PVC.
        let existing = try await session.api.getIfExists(.persistentVolumeClaims, namespace: ns, name: shape.name)
        result.outcomes.append(Rules.restoreTargetFree("\(ns)/\(shape.name)", exists: existing != nil))

        // The snapshot the dataSource names.
        guard let ds = shape.dataSource, ds.kind == "VolumeSnapshot", !ds.name.isEmpty else {
            let found = shape.dataSource.map { "\($0.kind) \($0.name)" } ?? "<none>"
            result.outcomes.append(.fail(.r10, Rules.refusalText(.restorePVCField(field: "dataSource", expected: "a VolumeSnapshot", found: found))))
            return result
        }
        let vs = VolumeSnapshot(try await session.api.get(try await session.volumeSnapshots(), namespace: ns, name: ds.name))
        let source = try await SourceDisk.load(session: session, snapshot: vs)
        result.warnings += source.warnings
        guard let snap = source.snapshot else {
            throw CLIError.runtime("cannot find the source disk of volumesnapshot/\(ds.name): neither PVC \(vs.sourcePVC ?? "<none>") nor a PV with the content's volumeHandle \(source.content?.volumeHandle ?? "<none>") exists")
        }
        // R11: only a ready snapshot.
        result.outcomes.append(Rules.readyToRestore(vs, snapshot: snap))
        let key = EverestNames.diskVolumeType
        let typeKnown = source.pv != nil || source.pvc?.annotations[key] != nil || source.storageClass?.parameters[key] != nil
        let className = shape.storageClassName ?? Rules.settings.defaultStorageClass
        let sc = try await session.readStorageClass(className)
        result.outcomes += Rules.restoreChecks(shape, volumeSnapshot: ds.name, snapshot: snap, storageClass: sc,
                                               sourceUnknown: source.refusedReads, sourceTypeKnown: typeKnown)
        return result
    }
}
