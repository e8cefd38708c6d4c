// The EVS cloud backend: BlockStorageBackend over Huawei Cloud's public EVS and ECS APIs.
//
// Paths (EVS API reference): create POST /v2.1/{project_id}/cloudvolumes (job), query GET
// /v2/{project_id}/cloudvolumes/{id} and /v2/{project_id}/cloudvolumes/detail, delete DELETE
// /v2/{project_id}/cloudvolumes/{id} (job), expand POST /v2.1/{project_id}/cloudvolumes/{id}/action {"os-extend"}
// (job); snapshots POST/GET/DELETE /v2/{project_id}/cloudsnapshots[/detail|/{id}]; jobs GET /v1/{project_id}/jobs/{id};
// attach POST /v1/{project_id}/cloudservers/{server_id}/attachvolume and detach DELETE
// /v1/{project_id}/cloudservers/{server_id}/detachvolume/{volume_id} (ECS jobs); quota GET
// /v2/{project_id}/os-quota-sets/{project_id}?usage=True.
//
// Every rule the emulator checks is checked here before the EVS call that would otherwise fail halfway (see
// docs/evs.md for the table). Idempotency after a crash: a disk or snapshot the driver makes carries its CSI name in
// metadata (EVSMetadata.volumeName / .snapshotName); a repeated call looks for it first and never makes a second.
// A create whose job fails leaves at most a disk in `error`, which the driver deletes before it reports the failure.
//
// Split by concern, as EVSEmulator is: this file holds the type, the call budget, capacity and health;
// EVSCloudBackend+Disks, +Snapshots, +Attachments (ECS), +Jobs (waiting), +Paging (reads and list pages) and +Errors
// (the one CloudAPIError -> BackendError mapping) the rest.
import JSONCore
import EVSSnapshotRules

/// BlockStorageBackend over EVS + ECS.
public final class EVSCloudBackend: BlockStorageBackend {
    /// The client (auth, retries).
    public let client: CloudClient
    /// Region and zones disks may be created in; the first is the default.
    public let topologies: [Topology]
    /// Rule settings (R5 quota, R8 capacity match).
    public let rules: RuleSettings
    /// ECS's attach limit per server.
    public let maxAttachmentsPerNode: Int
    /// EVS's smallest data disk (GB): a smaller request gets a disk of this size.
    public static let minimumDataDiskGiB = 10

    var project: String { client.configuration.projectID }
    var region: String { topologies.first?.region ?? "" }

    /// A backend over `client`.
    public init(client: CloudClient, topologies: [Topology], rules: RuleSettings = .default, maxAttachmentsPerNode: Int = 59) {
        self.client = client; self.topologies = topologies; self.rules = rules
        self.maxAttachmentsPerNode = maxAttachmentsPerNode
    }

    /// The budget of the current call: the gRPC deadline, else the configured default.
    func budget() -> CallBudget {
        if let deadline = CallDeadline.current { return CallBudget(deadline: deadline) }
        return CallBudget(client.configuration.defaultCallBudget)
    }

    /// `DELETE path` on EVS; nil when the object is already gone (`isNotFound`): deleting what is absent succeeds.
    /// Other errors are the backend's (`map`), naming `kind` and `id`.
    func deleteIfPresent(_ path: String, operation: String, kind: String, id: String,
                         budget: CallBudget) throws(BackendError) -> JSON? {
        do {
            return try client.call(.evs, "DELETE", path, operation: operation, budget: budget)
        } catch where error.isNotFound {
            return nil
        } catch {
            throw map(error, kind: kind, id: id)
        }
    }

    // MARK: Capacity and health

    public func capacity() throws(BackendError) -> BackendCapacity {
        let answer: JSON
        do {
            answer = try client.call(.evs, "GET", "/v2/\(project)/os-quota-sets/\(project)", query: [("usage", "True")],
                                     operation: "EVS quota", budget: budget())
        } catch {
            throw map(error, kind: "project", id: project)
        }
        let gib: Int64 = 1 << 30
        let gigabytes = answer["quota_set"]["gigabytes"]
        let used = Int64(gigabytes["in_use"].int ?? 0) + Int64(gigabytes["reserved"].int ?? 0)
        let limit = Int64(gigabytes["limit"].int ?? -1)
        let total = limit < 0 ? Int64(EverestNames.maxCapacityGiB) * 1024 : limit
        return BackendCapacity(totalBytes: total * gib, freeBytes: max(0, total - used) * gib, provisionedBytes: used * gib)
    }

    public func health() -> BackendHealth {
        do {
            _ = try client.call(.evs, "GET", "/v2/\(project)/cloudvolumes/detail", query: [("limit", "1")],
                                operation: "EVS health", budget: CallBudget(.seconds(5)))
            return BackendHealth(isHealthy: true, detail: "EVS \(client.configuration.evs) answers")
        } catch {
            return BackendHealth(isHealthy: false, detail: error.description)
        }
    }
}

/// Runs domain checks, wrapping a violation as `.rule`.
@discardableResult
func rule<T>(_ body: () throws(EverestRuleViolation) -> T) throws(BackendError) -> T {
    do { return try body() } catch { throw .rule(error) }
}

extension String {
    var trimmingSpaces: String { trimmingWhitespace }
}
