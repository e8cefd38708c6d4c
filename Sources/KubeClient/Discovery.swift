import Foundation

extension KubeClient {
    /// `GET /version`.
    public func serverVersion() async throws -> VersionInfo {
        let r = try await send(method: "GET", path: "/version")
        return try decode(VersionInfo.self, r.body, what: "server version")
    }

    /// `GET /apis` (unaggregated APIGroupList).
    public func apiGroups() async throws -> APIGroupList {
        let r = try await send(method: "GET", path: "/apis")
        return try decode(APIGroupList.self, r.body, what: "API group list")
    }

    /// `GET /apis/GROUP/VERSION` (or `/api/v1`). Returns nil when the group version is not served (404).
    public func apiResources(groupVersion: String) async throws -> APIResourceList? {
        let path = groupVersion.contains("/") ? "/apis/\(groupVersion)" : "/api/\(groupVersion)"
        do {
            let r = try await send(method: "GET", path: path)
            return try decode(APIResourceList.self, r.body, what: "resource list of \(groupVersion)")
        } catch let e as KubeAPIError where e.httpStatus == 404 {
            return nil
        }
    }

    /// True when `plural` is a resource of `groupVersion` (e.g. `storage.k8s.io/v1`, `csidrivers`).
    public func hasResource(groupVersion: String, plural: String) async throws -> Bool {
        guard let list = try await apiResources(groupVersion: groupVersion) else { return false }
        return list.resources.contains { $0.name == plural }
    }

    /// Picks the snapshot.storage.k8s.io version the cluster serves: `v1`, else `v1beta1` (old clusters).
    /// Throws ``KubeClientError/snapshotAPINotServed(servedVersions:)`` when neither is served.
    public func snapshotAPIVersion() async throws -> String {
        let groups = try await apiGroups()
        let served = groups.groups.first { $0.name == ResourceType.snapshotGroup }?.versions.map(\.version) ?? []
        return try KubeClient.pickSnapshotVersion(served: served)
    }

    /// The pure choice behind ``snapshotAPIVersion()``.
    public static func pickSnapshotVersion(served: [String]) throws -> String {
        for v in ["v1", "v1beta1"] where served.contains(v) { return v }
        throw KubeClientError.snapshotAPINotServed(servedVersions: served)
    }

    /// The three snapshot resources in the served version.
    public func snapshotResources() async throws -> (snapshots: ResourceType, contents: ResourceType, classes: ResourceType) {
        let v = try await snapshotAPIVersion()
        return (ResourceType.volumeSnapshots.withVersion(v), ResourceType.volumeSnapshotContents.withVersion(v),
                ResourceType.volumeSnapshotClasses.withVersion(v))
    }
}
