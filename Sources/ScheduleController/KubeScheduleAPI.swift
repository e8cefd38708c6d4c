// ScheduleAPI over KubeClient (the plugin's NIO transport; paths, errors and the loader are KubeCore's, as in the
// driver and the plugin): the only file of the controller that imports it. Objects travel as JSON; the
// SnapshotSchedule's fields are read here (ScheduleJSON) so the controller sees plain values.
import Foundation
import JSONCore
import KubeClient
import SnapshotSchedules

public struct KubeScheduleAPI: ScheduleAPI {
    public let client: KubeClient
    /// nil: every namespace; else only this one.
    public let namespace: String?
    public static let schedules = ResourceType(group: "evssnap.io", version: "v1alpha1", plural: "snapshotschedules",
                                               kind: "SnapshotSchedule", namespaced: true)

    public init(client: KubeClient, namespace: String?) { self.client = client; self.namespace = namespace }

    func call<T>(_ what: String, _ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let e as KubeAPIError {
            if e.code == 404 { throw ScheduleAPIError.notFound(what) }
            if e.code == 409 && e.reason == "AlreadyExists" { throw ScheduleAPIError.alreadyExists(what) }
            throw ScheduleAPIError.server(code: e.code, message: e.message)
        }
    }

    func json(_ r: KubeResponse) throws -> [String: Any] {
        guard let o = try JSONSerialization.jsonObject(with: r.body) as? [String: Any] else {
            throw ScheduleAPIError.server(code: r.status, message: "the answer is not a JSON object")
        }
        return o
    }

    func items(_ type: ResourceType, namespace: String?, labelSelector: String? = nil) async throws -> [[String: Any]] {
        var query: [URLQueryItem] = []
        if let labelSelector, !labelSelector.isEmpty { query.append(URLQueryItem(name: "labelSelector", value: labelSelector)) }
        let r = try await call(type.qualifiedName) {
            try await client.send(method: "GET", path: type.path(namespace: namespace), query: query, resource: type.qualifiedName)
        }
        return (try json(r)["items"] as? [[String: Any]]) ?? []
    }

    func object(_ type: ResourceType, namespace: String?, name: String) async throws -> [String: Any]? {
        do {
            let r = try await call("\(type.qualifiedName) \(name)") {
                try await client.send(method: "GET", path: type.path(namespace: namespace, name: name), resource: type.qualifiedName, name: name)
            }
            return try json(r)
        } catch ScheduleAPIError.notFound { return nil }
    }

    public func listSchedules() async throws -> [ScheduleObject] {
        try await items(Self.schedules, namespace: namespace).map(ScheduleJSON.schedule)
    }

    public func getSchedule(namespace: String, name: String) async throws -> ScheduleObject? {
        try await object(Self.schedules, namespace: namespace, name: name).map(ScheduleJSON.schedule)
    }

    public func listClaims(namespace: String, labelSelector: String) async throws -> [ClaimInfo] {
        try await items(.persistentVolumeClaims, namespace: namespace, labelSelector: labelSelector).map(ScheduleJSON.claim)
    }

    public func getClaim(namespace: String, name: String) async throws -> ClaimInfo? {
        try await object(.persistentVolumeClaims, namespace: namespace, name: name).map(ScheduleJSON.claim)
    }

    public func getVolume(name: String) async throws -> VolumeInfo? {
        try await object(.persistentVolumes, namespace: nil, name: name).map {
            let csi = ($0["spec"] as? [String: Any])?["csi"] as? [String: Any]
            return VolumeInfo(name: name, csiDriver: csi?["driver"] as? String, volumeHandle: csi?["volumeHandle"] as? String)
        }
    }

    public func listSnapshots(namespace: String) async throws -> [SnapshotInfo] {
        try await items(.volumeSnapshots, namespace: namespace).map(ScheduleJSON.snapshot)
    }

    public func createSnapshot(_ q: SnapshotRequest) async throws {
        let body: [String: Any] = [
            "apiVersion": ResourceType.volumeSnapshots.groupVersion, "kind": "VolumeSnapshot",
            "metadata": ["name": q.name, "namespace": q.namespace, "labels": q.labels, "annotations": q.annotations],
            "spec": ["source": ["persistentVolumeClaimName": q.pvc], "volumeSnapshotClassName": q.snapshotClassName],
        ]
        let data = try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])
        _ = try await call("volumesnapshot \(q.name)") {
            try await client.send(method: "POST", path: ResourceType.volumeSnapshots.path(namespace: q.namespace), body: data,
                                  resource: ResourceType.volumeSnapshots.qualifiedName, name: q.name)
        }
    }

    public func deleteSnapshot(namespace: String, name: String) async throws {
        do {
            _ = try await call("volumesnapshot \(name)") {
                try await client.send(method: "DELETE", path: ResourceType.volumeSnapshots.path(namespace: namespace, name: name),
                                      resource: ResourceType.volumeSnapshots.qualifiedName, name: name)
            }
        } catch ScheduleAPIError.notFound {}
    }

    /// Lists, then watches from the list's resourceVersion until every name has a DELETED event or the time is up.
    public func waitUntilGone(namespace: String, names: Set<String>, timeout: Duration) async throws -> Bool {
        if names.isEmpty { return true }
        let r = try await call("volumesnapshots") {
            try await client.send(method: "GET", path: ResourceType.volumeSnapshots.path(namespace: namespace),
                                  resource: ResourceType.volumeSnapshots.qualifiedName)
        }
        let list = try json(r)
        let present = names.intersection(((list["items"] as? [[String: Any]]) ?? []).compactMap { ($0["metadata"] as? [String: Any])?["name"] as? String })
        if present.isEmpty { return true }
        let rv = (list["metadata"] as? [String: Any])?["resourceVersion"] as? String
        let seconds = max(1, Int(timeout.components.seconds))
        let stream = client.watch(.volumeSnapshots, namespace: namespace,
                                  options: ListOptions(resourceVersion: rv, timeoutSeconds: seconds))
        return try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                var left = present
                for try await event in stream where event.type == "DELETED" {
                    if let n = event.object["metadata"]["name"].string { left.remove(n) }
                    if left.isEmpty { return true }
                }
                return false
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return false
            }
            let first = try await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    public func writeStatus(namespace: String, name: String, status: ScheduleStatus) async throws {
        let body = try JSONSerialization.data(withJSONObject: ["status": ScheduleJSON.status(status)], options: [.sortedKeys])
        _ = try await call("snapshotschedule \(name) status") {
            try await client.send(method: "PATCH", path: Self.schedules.path(namespace: namespace, name: name) + "/status", body: body,
                                  contentType: "application/merge-patch+json", resource: Self.schedules.qualifiedName, name: name)
        }
    }

    public func recordEvent(_ e: ClaimEvent) async throws {
        let now = Civil.rfc3339(Int64(Date().timeIntervalSince1970))
        let body: [String: Any] = [
            "apiVersion": "v1", "kind": "Event",
            "metadata": ["generateName": e.claim.name + ".", "namespace": e.claim.namespace],
            "involvedObject": ["apiVersion": "v1", "kind": "PersistentVolumeClaim", "name": e.claim.name,
                               "namespace": e.claim.namespace, "uid": e.claim.uid],
            "type": e.type, "reason": e.reason, "message": e.message, "count": 1,
            "firstTimestamp": now, "lastTimestamp": now,
            "source": ["component": "evssnap-scheduler"], "reportingComponent": "evssnap-scheduler",
        ]
        let data = try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])
        _ = try await call("event") {
            try await client.send(method: "POST", path: ResourceType.events.path(namespace: e.claim.namespace), body: data,
                                  resource: ResourceType.events.qualifiedName)
        }
    }

    public func driverAnnotations(driverName: String) async throws -> [String: String]? {
        try await object(.csiDrivers, namespace: nil, name: driverName).map {
            (($0["metadata"] as? [String: Any])?["annotations"] as? [String: String]) ?? [:]
        }
    }
}

/// Reading and writing SnapshotSchedule, PVC and VolumeSnapshot JSON (JSONSerialization's dictionaries).
public enum ScheduleJSON {
    static func time(_ v: Any?) -> Int64? { (v as? String).flatMap(Civil.parseRFC3339) }

    public static func schedule(_ o: [String: Any]) -> ScheduleObject {
        let md = o["metadata"] as? [String: Any] ?? [:]
        let status = o["status"] as? [String: Any] ?? [:]
        return ScheduleObject(namespace: md["namespace"] as? String ?? "", name: md["name"] as? String ?? "",
                              uid: md["uid"] as? String ?? "", generation: (md["generation"] as? Int) ?? 1,
                              created: time(md["creationTimestamp"]) ?? 0, spec: spec(o["spec"] as? [String: Any] ?? [:]),
                              lastScheduleTime: time(status["lastScheduleTime"]))
    }

    /// The spec of a SnapshotSchedule; the CRD's schema makes the types right, the rest is checked here.
    public static func spec(_ s: [String: Any]) -> Result<ScheduleSpec, ScheduleSpecError> {
        let claims: ClaimSelection
        if let names = s["claimNames"] as? [String], !names.isEmpty {
            claims = .names(names)
        } else if let sel = (s["claimSelector"] as? [String: Any])?["matchLabels"] as? [String: String], !sel.isEmpty {
            claims = .matchLabels(sel)
        } else {
            return .failure(.noClaims)
        }
        let retention = s["retention"] as? [String: Any] ?? [:]
        var maxAge: Int64?
        if let text = retention["maxAge"] as? String {
            do { maxAge = try ScheduleDuration.seconds(text) } catch { return .failure(error) }
        }
        let template = s["snapshotTemplate"] as? [String: Any] ?? [:]
        return .success(ScheduleSpec(
            claims: claims, schedule: s["schedule"] as? String ?? "", timeZone: s["timeZone"] as? String ?? "UTC",
            maxCount: retention["maxCount"] as? Int ?? 0, maxAge: maxAge,
            snapshotClassName: template["volumeSnapshotClassName"] as? String,
            labels: template["labels"] as? [String: String] ?? [:], disabled: s["disabled"] as? Bool ?? false))
    }

    /// The spec as JSON (what `kubectl evssnap schedule create` writes).
    public static func specObject(_ spec: ScheduleSpec) -> [String: Any] {
        var s: [String: Any] = ["schedule": spec.schedule, "timeZone": spec.timeZone, "disabled": spec.disabled]
        switch spec.claims {
        case .names(let n): s["claimNames"] = n
        case .matchLabels(let m): s["claimSelector"] = ["matchLabels": m]
        }
        var retention: [String: Any] = ["maxCount": spec.maxCount]
        if let a = spec.maxAge { retention["maxAge"] = ScheduleDuration.text(a) }
        s["retention"] = retention
        var template: [String: Any] = [:]
        if let c = spec.snapshotClassName { template["volumeSnapshotClassName"] = c }
        if !spec.labels.isEmpty { template["labels"] = spec.labels }
        if !template.isEmpty { s["snapshotTemplate"] = template }
        return s
    }

    public static func claim(_ o: [String: Any]) -> ClaimInfo {
        let md = o["metadata"] as? [String: Any] ?? [:]
        let spec = o["spec"] as? [String: Any] ?? [:]
        return ClaimInfo(namespace: md["namespace"] as? String ?? "", name: md["name"] as? String ?? "", uid: md["uid"] as? String ?? "",
                         phase: (o["status"] as? [String: Any])?["phase"] as? String ?? "Pending",
                         storageClassName: spec["storageClassName"] as? String, volumeName: spec["volumeName"] as? String)
    }

    public static func snapshot(_ o: [String: Any]) -> SnapshotInfo {
        let md = o["metadata"] as? [String: Any] ?? [:]
        let status = o["status"] as? [String: Any] ?? [:]
        let source = (o["spec"] as? [String: Any])?["source"] as? [String: Any]
        return SnapshotInfo(name: md["name"] as? String ?? "", sourcePVC: source?["persistentVolumeClaimName"] as? String,
                            labels: md["labels"] as? [String: String] ?? [:],
                            created: time(status["creationTime"]) ?? time(md["creationTimestamp"]) ?? 0,
                            readyToUse: status["readyToUse"] as? Bool ?? false,
                            error: (status["error"] as? [String: Any])?["message"] as? String,
                            deleting: md["deletionTimestamp"] != nil)
    }

    public static func status(_ s: ScheduleStatus) -> [String: Any] {
        var o: [String: Any] = ["observedGeneration": s.observedGeneration]
        if let t = s.lastScheduleTime { o["lastScheduleTime"] = Civil.rfc3339(t) }
        if let t = s.lastRunTime { o["lastSnapshotTime"] = Civil.rfc3339(t) }
        o["nextSnapshotTime"] = s.nextScheduleTime.map(Civil.rfc3339) ?? NSNull()
        if let r = s.lastResult { o["lastResult"] = r }
        if let c = s.claims {
            o["claims"] = c.map { r -> [String: Any] in
                var d: [String: Any] = ["name": r.pvc, "result": r.result, "message": r.message]
                if let s = r.snapshot { d["lastSnapshot"] = s }
                return d
            }
        }
        if let c = s.conditions {
            let now = Civil.rfc3339(Int64(Date().timeIntervalSince1970))
            o["conditions"] = c.map {
                ["type": $0.type, "status": $0.status ? "True" : "False", "reason": $0.reason, "message": $0.message,
                 "observedGeneration": s.observedGeneration, "lastTransitionTime": now] as [String: Any]
            }
        }
        return o
    }
}
