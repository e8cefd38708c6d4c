import Foundation
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

    func volumeSnapshots() async throws -> ResourceType { .volumeSnapshots.withVersion(try await snapshotVersion()) }
    func volumeSnapshotContents() async throws -> ResourceType { .volumeSnapshotContents.withVersion(try await snapshotVersion()) }
    func volumeSnapshotClasses() async throws -> ResourceType { .volumeSnapshotClasses.withVersion(try await snapshotVersion()) }

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

    func content(_ name: String) async throws -> VolumeSnapshotContent? {
        try await api.getIfExists(try await volumeSnapshotContents(), namespace: nil, name: name).map(VolumeSnapshotContent.init)
    }

    func storageClass(_ name: String) async throws -> StorageClass? {
        try await api.getIfExists(.storageClasses, namespace: nil, name: name).map(StorageClass.init)
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
