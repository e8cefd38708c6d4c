// ScheduleAPI over KubeClient (the plugin's NIO transport; paths, errors and the loader are KubeCore's, as in the
// driver and the plugin): the only file of the controller that imports it. Objects travel as JSON; the
// SnapshotSchedule's fields are read here (ScheduleJSON) so the controller sees plain values.
import Foundation
import JSONCore
import KubeClient
import SnapshotSchedules
import TimeCore

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

    func json(_ r: KubeResponse) throws -> JSON {
        guard let o = try? JSON.parse(r.body), o.object != nil else {
            throw ScheduleAPIError.server(code: r.status, message: "the answer is not a JSON object")
        }
        return o
    }

    func items(_ type: ResourceType, namespace: String?, labelSelector: String? = nil) async throws -> [JSON] {
        var query: [URLQueryItem] = []
        if let labelSelector, !labelSelector.isEmpty { query.append(URLQueryItem(name: "labelSelector", value: labelSelector)) }
        let r = try await call(type.qualifiedName) {
            try await client.send(method: "GET", path: type.path(namespace: namespace), query: query, resource: type.qualifiedName)
        }
        return try json(r)["items"].elements
    }

    func object(_ type: ResourceType, namespace: String?, name: String) async throws -> JSON? {
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
            let csi = $0["spec"]["csi"]
            return VolumeInfo(name: name, csiDriver: csi["driver"].string, volumeHandle: csi["volumeHandle"].string)
        }
    }

    public func listSnapshots(namespace: String) async throws -> [SnapshotInfo] {
        try await items(.volumeSnapshots, namespace: namespace).map(ScheduleJSON.snapshot)
    }

    public func createSnapshot(_ q: SnapshotRequest) async throws {
        let data = Data(ScheduleJSON.snapshotObject(q, groupVersion: ResourceType.volumeSnapshots.groupVersion).serialized())
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
        let present = names.intersection(list["items"].elements.compactMap { $0["metadata"]["name"].string })
        if present.isEmpty { return true }
        let rv = list["metadata"]["resourceVersion"].string
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
        let body = Data(JSON.object(["status": ScheduleJSON.status(status)]).serialized())
        _ = try await call("snapshotschedule \(name) status") {
            try await client.send(method: "PATCH", path: Self.schedules.path(namespace: namespace, name: name) + "/status", body: body,
                                  contentType: "application/merge-patch+json", resource: Self.schedules.qualifiedName, name: name)
        }
    }

    public func recordEvent(_ e: ClaimEvent) async throws {
        let now = Civil.rfc3339(Int64(Date().timeIntervalSince1970))
        let data = Data(ScheduleJSON.event(e, component: "evssnap-scheduler", time: now).serialized())
        _ = try await call("event") {
            try await client.send(method: "POST", path: ResourceType.events.path(namespace: e.claim.namespace), body: data,
                                  resource: ResourceType.events.qualifiedName)
        }
    }

    public func driverAnnotations(driverName: String) async throws -> [String: String]? {
        try await object(.csiDrivers, namespace: nil, name: driverName).map {
            $0["metadata"]["annotations"].stringMap
        }
    }
}

/// Reading and writing SnapshotSchedule, PVC and VolumeSnapshot JSON (JSONCore's values).
public enum ScheduleJSON {
    static func time(_ v: JSON) -> Int64? { v.string.flatMap { RFC3339.parse($0)?.seconds } }

    /// A string map as a JSON object.
    static func map(_ m: [String: String]) -> JSON { .object(m.mapValues { .string($0) }) }

    public static func schedule(_ o: JSON) -> ScheduleObject {
        let md = o["metadata"]
        let status = o["status"]
        return ScheduleObject(namespace: md["namespace"].string ?? "", name: md["name"].string ?? "",
                              uid: md["uid"].string ?? "", generation: md["generation"].int ?? 1,
                              created: time(md["creationTimestamp"]) ?? 0, spec: spec(o["spec"]),
                              lastScheduleTime: time(status["lastScheduleTime"]))
    }

    /// The spec of a SnapshotSchedule; the CRD's schema makes the types right, the rest is checked here.
    public static func spec(_ s: JSON) -> Result<ScheduleSpec, ScheduleSpecError> {
        let claims: ClaimSelection
        let names = s["claimNames"].elements.compactMap(\.string)
        if !names.isEmpty {
            claims = .names(names)
        } else if case .object = s["claimSelector"] {
            claims = .selector(selector(s["claimSelector"]))
        } else {
            return .failure(.noClaims)
        }
        let retention = s["retention"]
        var maxAge: Int64?
        if let text = retention["maxAge"].string {
            do { maxAge = try ScheduleDuration.seconds(text) } catch { return .failure(error) }
        }
        let template = s["snapshotTemplate"]
        return .success(ScheduleSpec(
            claims: claims, schedule: s["schedule"].string ?? "", timeZone: s["timeZone"].string ?? "UTC",
            maxCount: retention["maxCount"].int ?? 0, maxAge: maxAge,
            snapshotClassName: template["volumeSnapshotClassName"].string,
            labels: template["labels"].stringMap, disabled: s["disabled"].bool ?? false))
    }

    /// `spec.claimSelector` (metav1.LabelSelector). An operator the CRD's enum lets through unknown would select
    /// wrongly: it is kept as `In` with no values, which validation refuses.
    static func selector(_ o: JSON) -> LabelSelector {
        let exprs = o["matchExpressions"].elements.map { e in
            let op = e["operator"].string.flatMap(LabelRequirement.Operator.init(rawValue:))
            return LabelRequirement(key: e["key"].string ?? "", op: op ?? .in,
                                    values: op == nil ? [] : e["values"].elements.compactMap(\.string))
        }
        return LabelSelector(matchLabels: o["matchLabels"].stringMap, matchExpressions: exprs)
    }

    /// The spec as JSON (what `kubectl evssnap schedule create` writes).
    public static func specObject(_ spec: ScheduleSpec) -> JSON {
        var s: JSON = ["schedule": .string(spec.schedule), "timeZone": .string(spec.timeZone), "disabled": .bool(spec.disabled)]
        switch spec.claims {
        case .names(let n): s["claimNames"] = .array(n.map { .string($0) })
        case .selector(let sel):
            var o: [String: JSON] = [:]
            if !sel.matchLabels.isEmpty { o["matchLabels"] = map(sel.matchLabels) }
            if !sel.matchExpressions.isEmpty {
                o["matchExpressions"] = .array(sel.matchExpressions.map { r in
                    var e: [String: JSON] = ["key": .string(r.key), "operator": .string(r.op.rawValue)]
                    if !r.values.isEmpty { e["values"] = .array(r.values.map { .string($0) }) }
                    return .object(e)
                })
            }
            s["claimSelector"] = .object(o)
        }
        var retention: JSON = ["maxCount": .int(Int64(spec.maxCount))]
        if let a = spec.maxAge { retention["maxAge"] = .string(ScheduleDuration.text(a)) }
        s["retention"] = retention
        var template: [String: JSON] = [:]
        if let c = spec.snapshotClassName { template["volumeSnapshotClassName"] = .string(c) }
        if !spec.labels.isEmpty { template["labels"] = map(spec.labels) }
        if !template.isEmpty { s["snapshotTemplate"] = .object(template) }
        return s
    }

    /// The VolumeSnapshot a schedule creates (the controller's and `kubectl evssnap schedule run`'s).
    public static func snapshotObject(_ q: SnapshotRequest, groupVersion: String) -> JSON {
        ["apiVersion": .string(groupVersion), "kind": "VolumeSnapshot",
         "metadata": ["name": .string(q.name), "namespace": .string(q.namespace), "labels": map(q.labels),
                      "annotations": map(q.annotations)],
         "spec": ["source": ["persistentVolumeClaimName": .string(q.pvc)], "volumeSnapshotClassName": .string(q.snapshotClassName)]]
    }

    /// The Event on a claim (R5's refusal, a failed run), reported by `component` at `time` (RFC 3339).
    public static func event(_ e: ClaimEvent, component: String, time: String) -> JSON {
        ["apiVersion": "v1", "kind": "Event",
         "metadata": ["generateName": .string(e.claim.name + "."), "namespace": .string(e.claim.namespace)],
         "involvedObject": ["apiVersion": "v1", "kind": "PersistentVolumeClaim", "name": .string(e.claim.name),
                            "namespace": .string(e.claim.namespace), "uid": .string(e.claim.uid)],
         "type": .string(e.type), "reason": .string(e.reason), "message": .string(e.message), "count": 1,
         "firstTimestamp": .string(time), "lastTimestamp": .string(time),
         "source": ["component": .string(component)], "reportingComponent": .string(component)]
    }

    public static func claim(_ o: JSON) -> ClaimInfo {
        let md = o["metadata"]
        let spec = o["spec"]
        return ClaimInfo(namespace: md["namespace"].string ?? "", name: md["name"].string ?? "", uid: md["uid"].string ?? "",
                         phase: o["status"]["phase"].string ?? "Pending",
                         storageClassName: spec["storageClassName"].string, volumeName: spec["volumeName"].string)
    }

    public static func snapshot(_ o: JSON) -> SnapshotInfo {
        let md = o["metadata"]
        let status = o["status"]
        return SnapshotInfo(name: md["name"].string ?? "", sourcePVC: o["spec"]["source"]["persistentVolumeClaimName"].string,
                            labels: md["labels"].stringMap,
                            created: time(status["creationTime"]) ?? time(md["creationTimestamp"]) ?? 0,
                            readyToUse: status["readyToUse"].bool ?? false,
                            error: status["error"]["message"].string,
                            deleting: !md["deletionTimestamp"].isNull)
    }

    public static func status(_ s: ScheduleStatus) -> JSON {
        var o: JSON = ["observedGeneration": .int(Int64(s.observedGeneration))]
        if let t = s.lastScheduleTime { o["lastScheduleTime"] = .string(Civil.rfc3339(t)) }
        if let t = s.lastRunTime { o["lastSnapshotTime"] = .string(Civil.rfc3339(t)) }
        o["nextSnapshotTime"] = s.nextScheduleTime.map { .string(Civil.rfc3339($0)) } ?? .null
        if let r = s.lastResult { o["lastResult"] = .string(r) }
        if let c = s.claims {
            o["claims"] = .array(c.map { r -> JSON in
                var d: JSON = ["name": .string(r.pvc), "result": .string(r.result), "message": .string(r.message)]
                if let s = r.snapshot { d["lastSnapshot"] = .string(s) }
                return d
            })
        }
        if let c = s.conditions {
            let now = Civil.rfc3339(Int64(Date().timeIntervalSince1970))
            o["conditions"] = .array(c.map {
                ["type": .string($0.type), "status": .string($0.status ? "True" : "False"), "reason": .string($0.reason),
                 "message": .string($0.message), "observedGeneration": .int(Int64(s.observedGeneration)),
                 "lastTransitionTime": .string(now)]
            })
        }
        return o
    }
}
