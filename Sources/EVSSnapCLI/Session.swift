import EVSSnapshotRules
import Foundation
import JSONCore
import KubeClient

/// One command's view of the cluster: the connection, the namespace in effect and the snapshot API
/// version discovery found. Lives for one command, in one task.
final class Session {
    let api: any ClusterAPI
    /// `-n`, else the kubeconfig context's namespace, else `default`.
    let namespace: String
    let env: CommandEnvironment
    private var snapshotVersionCache: String?

    init(api: any ClusterAPI, namespace: String, env: CommandEnvironment) {
        self.api = api
        self.namespace = namespace
        self.env = env
    }

    /// Connects with the kubeconfig flags.
    static func open(_ options: KubeOptions, env: CommandEnvironment) async throws -> Session {
        let conn = try await env.connect(options)
        return Session(api: conn.api, namespace: options.namespace ?? conn.defaultNamespace, env: env)
    }

    var console: Console { env.console }

    /// The served snapshot API versions (R2), preferred first.
    func servedSnapshotVersions() async throws -> [String] {
        try await api.servedVersions(group: ResourceType.snapshotGroup)
    }

    /// The snapshot API version to use: the first of v1, v1beta1 that the cluster serves (R2).
    /// Throws a refusal when neither is served.
    func snapshotVersion() async throws -> String {
        if let v = snapshotVersionCache { return v }
        let served = try await servedSnapshotVersions()
        let v = try Rules.chooseSnapshotVersion(served: served).get()
        snapshotVersionCache = v
        return v
    }

    /// Lists VolumeSnapshots (namespace nil: all namespaces) with the first version of R2's preference (v1,
    /// served by every external-snapshotter since 6.0) straight away, without a discovery round trip first;
    /// when the server does not serve it (404 on the collection), discovery picks the version or refuses (R2).
    func listVolumeSnapshots(namespace: String?) async throws -> (type: ResourceType, items: [JSON]) {
        if snapshotVersionCache == nil, let preferred = EverestNames.snapshotVersions.first {
            let type = ResourceType.volumeSnapshots.withVersion(preferred)
            do {
                let items = try await api.list(type, namespace: namespace, fieldSelector: nil)
                snapshotVersionCache = preferred
                return (type, items)
            } catch let e as APIError where e.code == 404 {
                // Not served: ask discovery below.
            }
        }
        let type = try await volumeSnapshots()
        return (type, try await api.list(type, namespace: namespace, fieldSelector: nil))
    }

    func volumeSnapshots() async throws -> ResourceType { .volumeSnapshots.withVersion(try await snapshotVersion()) }
    func volumeSnapshotContents() async throws -> ResourceType { .volumeSnapshotContents.withVersion(try await snapshotVersion()) }
    func volumeSnapshotClasses() async throws -> ResourceType { .volumeSnapshotClasses.withVersion(try await snapshotVersion()) }

    // MARK: The driver's rule settings

    private var csiDriverRead: ClusterRead<JSON?>?

    /// The driver's CSIDriver object (R2; it carries the published settings), read once.
    func csiDriver() async throws -> ClusterRead<JSON?> {
        if let r = csiDriverRead { return r }
        let r = try await clusterGet(.csiDrivers, name: Rules.settings.driverName)
        csiDriverRead = r
        return r
    }

    /// Puts the rule settings the driver published on its CSIDriver object in effect for this command.
    /// Absent (no object, no annotations, or not readable): Everest's defaults stay.
    func loadDriverSettings() async throws {
        guard case .read(let driver?) = try await csiDriver() else { return }
        let name = Rules.settings.driverName
        let published = DriverSettings.decode(driverName: name, annotations: driver["metadata"]["annotations"].stringMap)
        switch published {
        case .success(let s?): Rules.current.set(s, from: "CSIDriver \(name)")
        case .success(nil): break
        case .failure(let f): console.printError("warning: the rule settings on CSIDriver \(name) cannot be read (\(f.message)); Everest's defaults apply")
        }
    }

    // MARK: Cluster-scoped reads a namespaced user may not make

    /// Reads that the server refused with Forbidden, so later checks do not ask again: `verb plural` -> reason.
    private var refusedReads: [String: String] = [:]

    /// Runs a cluster-scoped read; a Forbidden answer becomes `.forbidden` with the permission that was missing
    /// (`cannot get csidrivers at the cluster scope`) instead of an error, so the rule that needed the fact can
    /// fall back to what namespace-scoped objects say. Any other error is thrown as it is.
    func clusterRead<T>(_ verb: String, _ type: ResourceType, _ read: () async throws -> T) async throws -> ClusterRead<T> {
        let key = "\(verb) \(type.plural)"
        if let reason = refusedReads[key] { return .forbidden(reason) }
        do {
            return .read(try await read())
        } catch let e as APIError where e.code == 403 {
            let reason = "cannot \(verb) \(type.plural) at the cluster scope"
            refusedReads[key] = reason
            return .forbidden(reason)
        }
    }

    /// A cluster-scoped object, nil when it does not exist, or the refusal.
    func clusterGet(_ type: ResourceType, name: String) async throws -> ClusterRead<JSON?> {
        try await clusterRead("get", type) { try await api.getIfExists(type, namespace: nil, name: name) }
    }

    /// Every object of a cluster-scoped type (or of a namespaced type in all namespaces), or the refusal.
    func clusterList(_ type: ResourceType) async throws -> ClusterRead<[JSON]> {
        try await clusterRead("list", type) { try await api.list(type, namespace: nil, fieldSelector: nil) }
    }

    /// The PV, nil when it does not exist, or the refusal.
    func readPV(_ name: String) async throws -> ClusterRead<PV?> {
        try await clusterGet(.persistentVolumes, name: name).map { $0.map(PV.init) }
    }

    /// The StorageClass, nil when it does not exist, or the refusal.
    func readStorageClass(_ name: String) async throws -> ClusterRead<StorageClass?> {
        try await clusterGet(.storageClasses, name: name).map { $0.map(StorageClass.init) }
    }

    /// The VolumeSnapshotContent, nil when it does not exist, or the refusal.
    func readContent(_ name: String) async throws -> ClusterRead<VolumeSnapshotContent?> {
        try await clusterGet(try await volumeSnapshotContents(), name: name).map { $0.map(VolumeSnapshotContent.init) }
    }

    // MARK: Reads

    func pvc(_ name: String, namespace: String? = nil) async throws -> PVC {
        PVC(try await api.get(.persistentVolumeClaims, namespace: namespace ?? self.namespace, name: name))
    }

    func pv(_ name: String) async throws -> PV {
        PV(try await api.get(.persistentVolumes, namespace: nil, name: name))
    }

    func snapshot(_ name: String) async throws -> VolumeSnapshot {
        VolumeSnapshot(try await api.get(try await volumeSnapshots(), namespace: namespace, name: name))
    }

    /// The content, nil when it does not exist or the user may not read contents.
    func content(_ name: String) async throws -> VolumeSnapshotContent? {
        try await readContent(name).value ?? nil
    }

    /// Polls until `done` returns a value or `timeout` passes; `progress` sees every distinct state line.
    func poll<T>(timeout: KubeDuration, what: String, _ step: () async throws -> (state: String, result: T?)) async throws -> T {
        let deadline = ContinuousClock.now + .milliseconds(Int64(timeout.seconds * 1000))
        var last = ""
        while true {
            let (state, result) = try await step()
            if state != last { console.printError(state); last = state }
            if let result { return result }
            if timeout.seconds > 0 && ContinuousClock.now >= deadline {
                throw CLIError.runtime("timed out after \(timeout) waiting for \(what); it may still finish: check with `kubectl evssnap describe`")
            }
            try await Task.sleep(for: env.pollInterval)
        }
    }
}

/// The answer to a cluster-scoped read, or the permission the user lacks for it.
enum ClusterRead<T> {
    case read(T)
    /// e.g. `cannot get persistentvolumes at the cluster scope`.
    case forbidden(String)

    var value: T? {
        if case .read(let v) = self { return v }
        return nil
    }

    var refusal: String? {
        if case .forbidden(let r) = self { return r }
        return nil
    }

    func map<U>(_ transform: (T) -> U) -> ClusterRead<U> {
        switch self {
        case .read(let v): return .read(transform(v))
        case .forbidden(let r): return .forbidden(r)
        }
    }
}

/// The rule settings a driver publishes as annotations on its CSIDriver object (docs/rules.md "Settings").
enum DriverSettings {
    /// The settings, nil when nothing is published, or why they cannot be read; decoded by the domain's codec.
    static func decode(driverName: String, annotations: [String: String]) -> Result<RuleSettings?, DecodeFailure> {
        guard RuleSettings.PublishedKey.all.contains(where: { annotations[$0] != nil }) else { return .success(nil) }
        do {
            return .success(try RuleSettings(driverName: driverName, publishedAnnotations: annotations))
        } catch {
            return .failure(DecodeFailure(message: error.description))
        }
    }

    struct DecodeFailure: Error { var message: String }
}
