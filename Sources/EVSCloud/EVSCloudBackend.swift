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

    private var project: String { client.configuration.projectID }
    private var region: String { topologies.first?.region ?? "" }

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

    // MARK: Disks

    public func createDisk(name: String, spec: DiskSpec, source: SnapshotID?) throws(BackendError) -> Disk {
        let budget = budget()
        try rule { () throws(EverestRuleViolation) in
            try EverestRules.checkName(name)                                        // R14
            if source == nil { try EverestRules.checkCapacity(gib: spec.capacityGiB) } // R12
        }
        var attempt = 0
        while true {
            if let existing = try taggedVolume(named: name, budget: budget) {
                // Decided by EVS's own status, not the domain's: only `error` is a create that failed (the disk
                // status table); error_extending, error_rollbacking, rollbacking, awaiting-transfer, ... are disks a
                // create made and something later touched, never deleted here (issue 20, point 7).
                if existing.createFailed { try removeFailed(existing, budget: budget); continue }
                switch existing.status {
                case .creating:
                    let settled = try waitWhile(volume: existing.id, budget: budget, operation: "create disk \(name)") {
                        $0.status == .creating
                    }
                    guard let settled else { continue }  // gone meanwhile: make it anew
                    if settled.createFailed { try removeFailed(settled, budget: budget); continue }
                    return try adopt(settled, name: name, spec: spec, source: source, budget: budget)
                case .deleting:
                    throw .rule(.operationInFlight(key: name))
                default:
                    return try adopt(existing, name: name, spec: spec, source: source, budget: budget)
                }
            }
            let (body, planned) = try createBody(name: name, spec: spec, source: source, budget: budget)
            let answer: JSON
            do {
                answer = try client.call(.evs, "POST", "/v2.1/\(project)/cloudvolumes", body: body,
                                         operation: "EVS create disk \(name)", budget: budget)
            } catch where error.isTransient && !isDeadline(error) {
                // The disk may or may not exist now: look for it by its tag before posting again.
                attempt += 1
                try pauseAfterFailure(attempt: attempt, budget: budget, error: error)
                continue
            } catch {
                throw map(error, kind: "disk", id: name)
            }
            guard let jobID = answer["job_id"].string else {
                throw .storage("EVS create disk \(name): no job_id in the answer")
            }
            let job = try waitForJob(.evs, jobID, budget: budget, operation: "EVS create disk \(name)",
                                     pending: { () throws(BackendError) in .rule(.operationInFlight(key: name)) })
            if !job.succeeded {
                // The job failed: whatever disk it left (in error) is deleted now, so nothing half-made remains.
                if let left = try taggedVolume(named: name, budget: budget) { try removeFailed(left, budget: budget) }
                throw .unavailable("EVS create disk \(name): job \(jobID) failed: \(job.errorCode) \(job.failReason)".trimmingSpaces)
            }
            // The job names the disk (entities.volume_id, or entities.sub_jobs[] of a batch job); the create's
            // answer lists it too (volume_ids).
            guard let id = job.volumeID ?? answer["volume_ids"].array?.first?.string,
                  let volume = try volume(id, budget: budget) else {
                throw .storage("EVS create disk \(name): job \(jobID) succeeded without a volume")
            }
            if source != nil { try checkRestored(volume, planned: planned, budget: budget) }
            return volume.disk(region: region)
        }
    }

    /// The disk an earlier attempt of this call made, if it is what the call asks for. A restore is checked against
    /// its snapshot's source as after the job (the earlier attempt may have ended before its check ran); when the
    /// snapshot is gone by now there is nothing left to compare with, and the disk is taken as it is.
    private func adopt(_ volume: EVSVolume, name: String, spec: DiskSpec, source: SnapshotID?,
                       budget: CallBudget) throws(BackendError) -> Disk {
        let disk = try checkCompatible(volume, spec: spec, source: source)
        guard source != nil, volume.status == .available || volume.status == .inUse else { return disk }
        let planned: Disk
        do {
            planned = try createBody(name: name, spec: spec, source: source, budget: budget).planned
        } catch {
            if case .notFound = error { return disk }
            throw error
        }
        try checkRestored(volume, planned: planned, budget: budget)
        return disk
    }

    /// R8 after the fact: EVS gives a disk restored from a snapshot the mode and encryption of the snapshot's source
    /// (the create may not state them: EVS.1043), and takes type and sharing from the request. The disk EVS made is
    /// read back and compared with what R8 planned from the snapshot's record; a difference is the R8 refusal, and
    /// the disk is deleted, so no disk unlike its source is left behind.
    private func checkRestored(_ volume: EVSVolume, planned: Disk, budget: CallBudget) throws(BackendError) {
        let made = volume.disk(region: region)
        let id = DiskID(volume.id)
        var violation: EverestRuleViolation?
        if made.type != planned.type {
            violation = .typeDiffers(requested: made.type, source: planned.type, disk: id)
        } else if made.mode != planned.mode {
            violation = .modeDiffers(requested: made.mode, source: planned.mode, disk: id)
        } else if made.encryption != planned.encryption {
            violation = .encryptionDiffers(requested: made.encryption, source: planned.encryption, disk: id)
        } else if made.sharing != planned.sharing {
            violation = .sharingDiffers(requested: made.sharing, source: planned.sharing, disk: id)
        }
        guard let violation else { return }
        try deleteVolume(volume, budget: budget)
        throw .rule(violation)
    }

    private func createBody(name: String, spec: DiskSpec, source: SnapshotID?,
                            budget: CallBudget) throws(BackendError) -> (body: JSON, planned: Disk) {
        let disk: Disk
        if let source {
            // A snapshot still `creating` is waited for within the call's deadline; R11 refuses it if it is
            // not available by then (EVS itself would refuse the restore).
            guard let raw = try waitWhile(snapshot: source.rawValue, budget: budget, { $0.status == .creating }) else {
                throw .notFound(kind: "snapshot", id: source.rawValue)
            }
            let snapshot = try snapshotValue(raw, budget: budget)
            // R14, R11, R12, R8, R9 in the plugin's order; R6 (encryption) and R9 (zone) come from the source.
            let plan = try rule { () throws(EverestRuleViolation) in
                try EverestRules.checkRestore(spec.restoreRequest(name: name), snapshot: snapshot, settings: rules)
            }
            disk = Disk(id: "", name: name, capacityGiB: plan.capacityGiB, type: plan.type, mode: plan.mode,
                        encryption: plan.encryption, sharing: plan.sharing, topology: plan.topology,
                        status: .creating, fsType: plan.fsType)
        } else {
            let type = spec.type ?? .sas
            if !type.isCreatable { throw .rule(.typeNotCreatable(type)) }
            disk = Disk(id: "", name: name, capacityGiB: max(spec.capacityGiB, Self.minimumDataDiskGiB), type: type,
                        mode: spec.mode ?? .vbd, encryption: spec.encryption ?? .plain,
                        sharing: spec.sharing ?? .nonShared, topology: try chooseTopology(spec), status: .creating,
                        fsType: spec.fsType ?? .ext4)
        }
        var metadata: [String: JSON] = [
            EVSMetadata.volumeName: .string(name),
            EVSMetadata.fsType: .string(disk.fsType.rawValue),
        ]
        // From a snapshot, EVS refuses hw:passthrough, __system__encrypted and __system__cmkid (create page, note on
        // metadata; error EVS.1043): the new disk takes them from the snapshot's source, checked after the job.
        if source == nil {
            if disk.mode == .scsi { metadata[EVSMetadata.passthrough] = "true" }
            if let key = disk.encryption.keyID {
                metadata[EVSMetadata.encrypted] = "1"
                metadata[EVSMetadata.cmkID] = .string(key)
            }
        }
        var volume: [String: JSON] = [
            "availability_zone": .string(disk.topology.zone),
            "name": .string(name),
            "size": .number(Double(disk.capacityGiB)),
            "volume_type": .string(disk.type.rawValue),
            "multiattach": .bool(disk.sharing.isShared),
            "metadata": .object(metadata),
            // No "count": one disk, a createVolume job (a count makes EVS a batch job, its disks in sub_jobs).
        ]
        if let source { volume["snapshot_id"] = .string(source.rawValue) }
        if let iops = spec.iops { volume["iops"] = .number(Double(iops)) }
        if let throughput = spec.throughput { volume["throughput"] = .number(Double(throughput)) }
        return (["volume": .object(volume)], disk)
    }

    private func checkCompatible(_ volume: EVSVolume, spec: DiskSpec, source: SnapshotID?) throws(BackendError) -> Disk {
        let disk = volume.disk(region: region)
        var differences: [String] = []
        if volume.sourceSnapshot != source?.rawValue {
            differences.append("source \(volume.sourceSnapshot ?? "none") != \(source?.rawValue ?? "none")")
        }
        let wanted = source == nil ? max(spec.capacityGiB, Self.minimumDataDiskGiB) : spec.capacityGiB
        if disk.capacityGiB != wanted { differences.append("capacity \(disk.capacityGiB)GiB != \(wanted)GiB") }
        let restore = source != nil
        if let t = spec.type ?? (restore ? nil : .sas), t != disk.type { differences.append("type \(disk.type) != \(t)") }
        if let m = spec.mode ?? (restore ? nil : .vbd), m != disk.mode { differences.append("mode \(disk.mode) != \(m)") }
        if let e = spec.encryption ?? (restore ? nil : .plain), e != disk.encryption {
            differences.append("encryption \(disk.encryption) != \(e)")
        }
        if let s = spec.sharing ?? (restore ? nil : .nonShared), s != disk.sharing {
            differences.append("sharing \(disk.sharing) != \(s)")
        }
        if let fs = spec.fsType, fs != disk.fsType { differences.append("fstype \(disk.fsType) != \(fs)") }
        if !spec.allowedZones.isEmpty && !spec.allowedZones.contains(disk.topology.zone) {
            differences.append("zone \(disk.topology.zone) not in [\(spec.allowedZones.joined(separator: ", "))]")
        }
        if !differences.isEmpty {
            throw .alreadyExists(name: disk.name, detail: "disk \(disk.id) differs: " + differences.joined(separator: "; "))
        }
        return disk
    }

    private func chooseTopology(_ spec: DiskSpec) throws(BackendError) -> Topology {
        let allowed = spec.allowedZones.isEmpty ? topologies : topologies.filter { spec.allowedZones.contains($0.zone) }
        guard let first = allowed.first else {
            throw .topologyUnavailable(requested: spec.allowedZones, available: topologies.map(\.zone))
        }
        for zone in spec.preferredZones {
            if let match = allowed.first(where: { $0.zone == zone }) { return match }
        }
        return first
    }

    /// Deletes a disk a failed create left behind, and waits until it is gone.
    private func removeFailed(_ volume: EVSVolume, budget: CallBudget) throws(BackendError) {
        try deleteVolume(volume, budget: budget)
    }

    public func deleteDisk(_ id: DiskID) throws(BackendError) {
        let budget = budget()
        guard let volume = try volume(id.rawValue, budget: budget) else { return }  // idempotent
        // EVS deletes a disk only in available, error, error_extending, error_restoring, error_rollbacking (EVS.1046).
        switch volume.statusText {
        case "creating", "extending", "attaching", "detaching", "rollbacking", "downloading", "restoring-backup",
             "uploading", "backing-up", "retyping":
            throw .rule(.operationInFlight(key: id.rawValue))
        case "awaiting-transfer":
            throw .busy("disk \(id) is awaiting transfer to another account (EVS status awaiting-transfer) and cannot be deleted")
        default: break
        }
        if volume.status != .deleting {
            let snapshots = try snapshots(ofVolume: id.rawValue, budget: budget)
            try rule { () throws(EverestRuleViolation) in
                try EverestRules.checkDiskDeletable(id, snapshotCount: snapshots.count)  // R13
            }
            if !volume.attachedServers.isEmpty {
                throw .rule(.diskAttached(disk: id, nodes: volume.attachedServers))  // R13
            }
        }
        try deleteVolume(volume, budget: budget)
    }

    private func deleteVolume(_ volume: EVSVolume, budget: CallBudget) throws(BackendError) {
        let operation = "EVS delete disk \(volume.id)"
        if volume.status != .deleting {
            let answer: JSON
            do {
                answer = try client.call(.evs, "DELETE", "/v2/\(project)/cloudvolumes/\(volume.id)",
                                         operation: operation, budget: budget)
            } catch where error.code == "EVS.5404" || error.status == 404 {
                return
            } catch {
                throw map(error, kind: "disk", id: volume.id)
            }
            if let jobID = answer["job_id"].string {
                let job = try waitForJob(.evs, jobID, budget: budget, operation: operation,
                                         pending: { () throws(BackendError) in .rule(.operationInFlight(key: volume.id)) })
                if !job.succeeded {
                    throw .unavailable("\(operation): job \(jobID) failed: \(job.errorCode) \(job.failReason)".trimmingSpaces)
                }
            }
        }
        // The job is done when the volume is gone.
        if try waitWhile(volume: volume.id, budget: budget, operation: operation, { _ in true }) != nil {
            throw .rule(.operationInFlight(key: volume.id))
        }
    }

    public func getDisk(_ id: DiskID) throws(BackendError) -> Disk? {
        try volume(id.rawValue, budget: budget())?.disk(region: region)
    }

    public func listDisks(maxEntries: Int, startingToken: String?) throws(BackendError) -> BackendPage<Disk> {
        let budget = budget()
        let all = try allVolumes(query: [], budget: budget).filter { $0.taggedName != nil }
        let page = try Self.page(all.map { ($0.createdAt, $0.id, $0) }, maxEntries: maxEntries, token: startingToken)
        return BackendPage(items: page.items.map { $0.disk(region: region) }, nextToken: page.next)
    }

    // MARK: Snapshots

    public func createSnapshot(name: String, sourceDisk: DiskID) throws(BackendError) -> Snapshot {
        let budget = budget()
        try rule { () throws(EverestRuleViolation) in try EverestRules.checkSnapshotName(name) }  // R14
        var attempt = 0
        while true {
            if let existing = try taggedSnapshot(named: name, budget: budget) {
                guard existing.volumeID == sourceDisk.rawValue else {
                    throw .alreadyExists(name: name, detail: "snapshot \(existing.id) is of disk \(existing.volumeID), not \(sourceDisk)")
                }
                if existing.status == .error {
                    // A snapshot EVS could not make: delete it and take a new one (never keep two of one name).
                    try deleteSnapshotObject(existing.id, budget: budget)
                    continue
                }
                // `creating` is reported as ready_to_use=false; the snapshotter asks again until it is available.
                return try snapshotValue(existing, budget: budget)
            }
            guard let volume = try volume(sourceDisk.rawValue, budget: budget) else {
                throw .notFound(kind: "disk", id: sourceDisk.rawValue)
            }
            let disk = volume.disk(region: region)
            let count = try snapshots(ofVolume: sourceDisk.rawValue, budget: budget).count
            // R14, R3, R4 (available or in-use), R5 (quota) in the plugin's order; R6: the snapshot keeps the
            // disk's encryption.
            let encryption = try rule { () throws(EverestRuleViolation) in
                try EverestRules.checkCreateSnapshot(name: name, disk: disk, existingSnapshots: count, settings: rules)
            }
            let body: JSON = ["snapshot": [
                "volume_id": .string(sourceDisk.rawValue),
                "name": .string(name),
                // An in-use disk needs force (huaweicloud-csi-driver issue 125: EVS.5400 without it).
                "force": true,
                "metadata": .object([
                    EVSMetadata.snapshotName: .string(name),
                    EVSMetadata.sourceType: .string(disk.type.rawValue),
                    EVSMetadata.sourceMode: .string(disk.mode.rawValue),
                    EVSMetadata.sourceShared: .string(disk.sharing.isShared ? "true" : "false"),
                    EVSMetadata.sourceZone: .string(disk.topology.zone),
                    EVSMetadata.sourceCMK: .string(encryption.keyID ?? ""),
                    EVSMetadata.fsType: .string(disk.fsType.rawValue),
                ]),
            ]]
            do {
                let answer = try client.call(.evs, "POST", "/v2/\(project)/cloudsnapshots", body: body,
                                             operation: "EVS create snapshot \(name)", budget: budget)
                guard !answer["snapshot"].isNull else { throw BackendError.storage("EVS create snapshot \(name): no snapshot in the answer") }
                return EVSSnapshot(json: answer["snapshot"]).snapshot(region: region, source: disk)
            } catch let error as CloudAPIError where error.isTransient && !isDeadline(error) {
                attempt += 1
                try pauseAfterFailure(attempt: attempt, budget: budget, error: error)
                continue
            } catch let error as CloudAPIError {
                throw map(error, kind: "disk", id: sourceDisk.rawValue)
            } catch let error as BackendError {
                throw error
            } catch {
                throw .storage("\(error)")
            }
        }
    }

    public func deleteSnapshot(_ id: SnapshotID) throws(BackendError) {
        let budget = budget()
        // A snapshot still `creating` (just taken) is waited for within the deadline; R13 refuses it otherwise.
        guard let snapshot = try waitWhile(snapshot: id.rawValue, budget: budget, { $0.status == .creating }) else {
            return  // idempotent
        }
        if snapshot.status == .deleting { return }
        try rule { () throws(EverestRuleViolation) in
            try EverestRules.checkSnapshotDeletable(id, status: snapshot.status)  // R13
        }
        // R11: a disk still being restored from this snapshot.
        let restoring = try allVolumes(query: [], budget: budget)
            .filter { $0.sourceSnapshot == id.rawValue && $0.status == .creating }
            .map { $0.taggedName ?? $0.name }
        try rule { () throws(EverestRuleViolation) in
            try EverestRules.checkNoPendingRestore(snapshot: id, pendingRestorePVCs: restoring)
        }
        try deleteSnapshotObject(id.rawValue, budget: budget)
    }

    private func deleteSnapshotObject(_ id: String, budget: CallBudget) throws(BackendError) {
        do {
            _ = try client.call(.evs, "DELETE", "/v2/\(project)/cloudsnapshots/\(id)",
                                operation: "EVS delete snapshot \(id)", budget: budget)
        } catch where error.code == "EVS.5404" || error.status == 404 {
            return
        } catch {
            throw map(error, kind: "snapshot", id: id)
        }
    }

    public func getSnapshot(_ id: SnapshotID) throws(BackendError) -> Snapshot? {
        try findSnapshot(id.rawValue, budget: budget())
    }

    public func listSnapshots(snapshotID: SnapshotID?, sourceDiskID: DiskID?, maxEntries: Int,
                              startingToken: String?) throws(BackendError) -> BackendPage<Snapshot> {
        let budget = budget()
        var query: [(String, String)] = []
        if let snapshotID { query.append(("id", snapshotID.rawValue)) }
        if let sourceDiskID { query.append(("volume_id", sourceDiskID.rawValue)) }
        var all = try allSnapshots(query: query, budget: budget)
        if snapshotID == nil { all = all.filter { $0.taggedName != nil } }
        let page = try Self.page(all.map { ($0.createdAt, $0.id, $0) }, maxEntries: maxEntries, token: startingToken)
        var items: [Snapshot] = []
        for raw in page.items { items.append(try snapshotValue(raw, budget: budget)) }
        return BackendPage(items: items, nextToken: page.next)
    }

    // MARK: Attachments (ECS)

    /// ECS's attach has no read-only mode, so the mode is recorded in the disk's EVS metadata
    /// (`EVSMetadata.attachMode(server:)`, written before the attach) and compared on a re-publish: the same mode is
    /// idempotent, the other is `alreadyExists` (as in the emulator). A disk attached to the server with no record
    /// (attached outside the driver, or by a driver older than the record) is taken as it is and the mode recorded.
    public func attach(disk: DiskID, node: String, readOnly: Bool) throws(BackendError) -> DiskAttachment {
        let budget = budget()
        guard var volume = try volume(disk.rawValue, budget: budget) else { throw .notFound(kind: "disk", id: disk.rawValue) }
        if volume.status == .attaching {
            volume = try waitWhile(volume: disk.rawValue, budget: budget, operation: "attach \(disk)") { $0.status == .attaching }
                ?? volume
        }
        let recorded = volume.recordedReadOnly(server: node)
        if volume.attachedServers.contains(node) {
            if let recorded, recorded != readOnly {
                throw .alreadyExists(name: "attachment of disk \(disk) to node \(node)",
                                     detail: "attached \(Self.modeName(recorded)), \(Self.modeName(readOnly)) requested; detach it first")
            }
            if recorded == nil { try recordAttachMode(disk: disk, node: node, readOnly: readOnly, budget: budget) }
            return attachment(volume, node: node)
        }
        if !volume.shared, let other = volume.attachedServers.first {
            throw .busy("disk \(disk) is non-shared and attached to node \(other); detach it there first")
        }
        // Recorded before the attach, so an attached disk always carries its mode (a crash in between leaves only a
        // record, which the retried publish overwrites).
        if recorded != readOnly { try recordAttachMode(disk: disk, node: node, readOnly: readOnly, budget: budget) }
        let operation = "ECS attach disk \(disk) to server \(node)"
        let answer: JSON
        do {
            answer = try client.call(.ecs, "POST", "/v1/\(project)/cloudservers/\(node)/attachvolume",
                                     body: ["volumeAttachment": ["volumeId": .string(disk.rawValue)]],
                                     repeatable: true, operation: operation, budget: budget)
        } catch {
            throw map(error, kind: "server", id: node)
        }
        try finishJob(.ecs, answer: answer, disk: disk, budget: budget, operation: operation)
        guard let attached = try self.volume(disk.rawValue, budget: budget) else { throw .notFound(kind: "disk", id: disk.rawValue) }
        return attachment(attached, node: node)
    }

    private static func modeName(_ readOnly: Bool) -> String { readOnly ? "read-only" : "read-write" }

    /// `POST /v2/{project_id}/volumes/{volume_id}/metadata` (add or update; safe to repeat).
    private func recordAttachMode(disk: DiskID, node: String, readOnly: Bool, budget: CallBudget) throws(BackendError) {
        let value = readOnly ? EVSMetadata.readOnly : EVSMetadata.readWrite
        do {
            _ = try client.call(.evs, "POST", "/v2/\(project)/volumes/\(disk.rawValue)/metadata",
                                body: ["metadata": [EVSMetadata.attachMode(server: node): .string(value)]],
                                repeatable: true, operation: "EVS record attach mode of disk \(disk) on server \(node)",
                                budget: budget)
        } catch {
            throw map(error, kind: "disk", id: disk.rawValue)
        }
    }

    /// `DELETE /v2/{project_id}/volumes/{volume_id}/metadata/{key}`; a key or disk already gone is fine.
    private func forgetAttachMode(disk: DiskID, node: String, budget: CallBudget) throws(BackendError) {
        do {
            _ = try client.call(.evs, "DELETE", "/v2/\(project)/volumes/\(disk.rawValue)/metadata/\(EVSMetadata.attachMode(server: node))",
                                operation: "EVS forget attach mode of disk \(disk) on server \(node)", budget: budget)
        } catch where error.code == "EVS.5404" || error.status == 404 {
            return
        } catch {
            throw map(error, kind: "disk", id: disk.rawValue)
        }
    }

    private func attachment(_ volume: EVSVolume, node: String) -> DiskAttachment {
        DiskAttachment(diskID: DiskID(volume.id), nodeID: node,
                       devicePath: DeviceFinder.expectedPaths(volumeID: volume.id, mode: volume.mode, wwn: volume.wwn).first ?? "")
    }

    public func detach(disk: DiskID, node: String?) throws(BackendError) {
        let budget = budget()
        guard let volume = try volume(disk.rawValue, budget: budget) else { throw .notFound(kind: "disk", id: disk.rawValue) }
        let servers = volume.attachedServers.filter { node == nil || $0 == node }
        // Mode records without an attachment (a publish that crashed before its attach) go too.
        let records = volume.metadata.keys.filter { $0.hasPrefix(EVSMetadata.attachModePrefix) }
            .map { String($0.dropFirst(EVSMetadata.attachModePrefix.count)) }
            .filter { (node == nil || $0 == node) && !servers.contains($0) }
        for server in records { try forgetAttachMode(disk: disk, node: server, budget: budget) }
        for server in servers {
            let operation = "ECS detach disk \(disk) from server \(server)"
            let answer: JSON
            do {
                answer = try client.call(.ecs, "DELETE", "/v1/\(project)/cloudservers/\(server)/detachvolume/\(disk.rawValue)",
                                         operation: operation, budget: budget)
            } catch where error.code == "Ecs.0111" || error.status == 404 {
                // 400 Ecs.0111 "The EVS disk has been detached from the ECS" (ECS error table): already done, as
                // huaweicloud-csi-driver's ControllerUnpublishVolume takes it; a 404 (server or disk gone) too.
                try forgetAttachMode(disk: disk, node: server, budget: budget)
                continue
            } catch {
                throw map(error, kind: "server", id: server)
            }
            if let jobID = answer["job_id"].string {
                let job = try waitForJob(.ecs, jobID, budget: budget, operation: operation,
                                         pending: { () throws(BackendError) in .rule(.operationInFlight(key: disk.rawValue)) })
                guard job.succeeded else {
                    throw .unavailable("\(operation): job \(jobID) failed: \(job.errorCode) \(job.failReason)".trimmingSpaces)
                }
            }
            // Detached: the mode record goes (deleted after the detach, so a failed detach keeps it).
            try forgetAttachMode(disk: disk, node: server, budget: budget)
        }
    }

    public func attachments(of disk: DiskID) throws(BackendError) -> [DiskAttachment] {
        guard let volume = try volume(disk.rawValue, budget: budget()) else { return [] }
        return volume.attachedServers.map { attachment(volume, node: $0) }
    }

    // MARK: Expand

    public func expand(disk: DiskID, newCapacityGiB: Int) throws(BackendError) -> Disk {
        let budget = budget()
        guard var volume = try volume(disk.rawValue, budget: budget) else { throw .notFound(kind: "disk", id: disk.rawValue) }
        if volume.status == .extending {
            volume = try waitWhile(volume: disk.rawValue, budget: budget, operation: "expand \(disk)") { $0.status == .extending }
                ?? volume
        }
        if newCapacityGiB <= volume.size { return volume.disk(region: region) }  // never shrinks; idempotent
        try rule { () throws(EverestRuleViolation) in try EverestRules.checkCapacity(gib: newCapacityGiB) }  // R12
        let operation = "EVS expand disk \(disk) to \(newCapacityGiB)GiB"
        let answer: JSON
        do {
            answer = try client.call(.evs, "POST", "/v2.1/\(project)/cloudvolumes/\(disk.rawValue)/action",
                                     body: ["os-extend": ["new_size": .number(Double(newCapacityGiB))]],
                                     repeatable: true, operation: operation, budget: budget)
        } catch {
            throw map(error, kind: "disk", id: disk.rawValue)
        }
        try finishJob(.evs, answer: answer, disk: disk, budget: budget, operation: operation)
        guard let grown = try self.volume(disk.rawValue, budget: budget) else { throw .notFound(kind: "disk", id: disk.rawValue) }
        return grown.disk(region: region)
    }

    // MARK: Provisioned performance

    /// EVS "ModifyVolumeQoS": PUT /v5/{project_id}/cloudvolumes/{volume_id}/qos {"qos_modify": {"iops", "throughput"}}
    /// → 202 {"job_id"} (an EVS job). EVS takes both numbers for a GPSSD2 disk, so the one the change leaves unsaid
    /// is the disk's current value (the volume object's `iops.total_val` / `throughput.total_val`).
    public func modifyPerformance(disk: DiskID, change: PerformanceChange) throws(BackendError) -> Disk {
        let budget = budget()
        func current(_ volume: EVSVolume) -> Disk {
            var value = volume.disk(region: region)
            value.iops = volume.json["iops"]["total_val"].int
            value.throughput = volume.json["throughput"]["total_val"].int
            return value
        }
        guard let volume = try volume(disk.rawValue, budget: budget) else { throw .notFound(kind: "disk", id: disk.rawValue) }
        let before = current(volume)
        if change.isSatisfied(by: before) { return before }  // idempotent (also the empty change)
        try rule { () throws(EverestRuleViolation) in try EverestRules.checkPerformanceChange(change, on: before) }
        switch before.status {
        case .available, .inUse: break
        case .error: throw .busy("disk \(disk) is in status error and its iops and throughput cannot be changed")
        default: throw .rule(.operationInFlight(key: disk.rawValue))
        }
        var qos: [String: JSON] = [:]
        if let iops = change.iops ?? before.iops { qos["iops"] = .number(Double(iops)) }
        if let throughput = change.throughput ?? before.throughput { qos["throughput"] = .number(Double(throughput)) }
        let operation = "EVS modify QoS of disk \(disk)"
        let answer: JSON
        do {
            answer = try client.call(.evs, "PUT", "/v5/\(project)/cloudvolumes/\(disk.rawValue)/qos",
                                     body: ["qos_modify": .object(qos)], repeatable: true, operation: operation,
                                     budget: budget)
        } catch {
            throw map(error, kind: "disk", id: disk.rawValue)
        }
        try finishJob(.evs, answer: answer, disk: disk, budget: budget, operation: operation)
        guard let changed = try self.volume(disk.rawValue, budget: budget) else { throw .notFound(kind: "disk", id: disk.rawValue) }
        return current(changed)
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

    // MARK: Queries

    func volume(_ id: String, budget: CallBudget) throws(BackendError) -> EVSVolume? {
        do {
            let answer = try client.call(.evs, "GET", "/v2/\(project)/cloudvolumes/\(id)", operation: "EVS get disk \(id)",
                                         budget: budget)
            return EVSVolume(json: answer["volume"])
        } catch where error.code == "EVS.5404" || error.status == 404 {
            return nil
        } catch where error.code == "EVS.1002" {
            return nil  // "invalid volume id!": not even an EVS disk id, so no such disk. Any other 400 (EVS.0001, a
                        // wrong project id) is an error: taking it for "gone" made DeleteVolume succeed doing nothing.
        } catch {
            throw map(error, kind: "disk", id: id)
        }
    }

    /// Every volume matching `query`, following EVS's offset/limit pages.
    func allVolumes(query: [(String, String)], budget: CallBudget) throws(BackendError) -> [EVSVolume] {
        var out: [EVSVolume] = []
        let limit = 1000
        while true {
            let answer: JSON
            do {
                answer = try client.call(.evs, "GET", "/v2/\(project)/cloudvolumes/detail",
                                         query: query + Self.pageQuery(limit: limit, offset: out.count),
                                         operation: "EVS list disks", budget: budget)
            } catch {
                throw map(error, kind: "disks", id: "")
            }
            let page = (answer["volumes"].array ?? []).map(EVSVolume.init)
            out += page
            if page.count < limit { return out }
        }
    }

    /// limit and offset of one list page; a zero offset is left out (the disk list page: offset "greater than 0";
    /// the SDKs send no zero offset either).
    static func pageQuery(limit: Int, offset: Int) -> [(String, String)] {
        offset > 0 ? [("limit", String(limit)), ("offset", String(offset))] : [("limit", String(limit))]
    }

    func taggedVolume(named name: String, budget: CallBudget) throws(BackendError) -> EVSVolume? {
        let matches = try allVolumes(query: [("name", name)], budget: budget).filter { $0.taggedName == name }
        // Newest first: a repeated create continues with the latest attempt.
        return matches.max { ($0.createdAt.seconds, $0.createdAt.nanos) < ($1.createdAt.seconds, $1.createdAt.nanos) }
    }

    func allSnapshots(query: [(String, String)], budget: CallBudget) throws(BackendError) -> [EVSSnapshot] {
        var out: [EVSSnapshot] = []
        let limit = 1000
        while true {
            let answer: JSON
            do {
                answer = try client.call(.evs, "GET", "/v2/\(project)/cloudsnapshots/detail",
                                         query: query + Self.pageQuery(limit: limit, offset: out.count),
                                         operation: "EVS list snapshots", budget: budget)
            } catch {
                throw map(error, kind: "snapshots", id: "")
            }
            let page = (answer["snapshots"].array ?? []).map(EVSSnapshot.init)
            out += page
            if page.count < limit { return out }
        }
    }

    func snapshots(ofVolume id: String, budget: CallBudget) throws(BackendError) -> [EVSSnapshot] {
        try allSnapshots(query: [("volume_id", id)], budget: budget).filter { $0.volumeID == id }
    }

    func taggedSnapshot(named name: String, budget: CallBudget) throws(BackendError) -> EVSSnapshot? {
        try allSnapshots(query: [("name", name)], budget: budget).first { $0.taggedName == name }
    }

    func findRawSnapshot(_ id: String, budget: CallBudget) throws(BackendError) -> EVSSnapshot? {
        try allSnapshots(query: [("id", id)], budget: budget).first { $0.id == id }
    }

    func findSnapshot(_ id: String, budget: CallBudget) throws(BackendError) -> Snapshot? {
        guard let raw = try findRawSnapshot(id, budget: budget) else { return nil }
        return try snapshotValue(raw, budget: budget)
    }

    private func snapshotValue(_ raw: EVSSnapshot, budget: CallBudget) throws(BackendError) -> Snapshot {
        // A snapshot the driver made records its source's attributes; another one is read from its disk.
        let source = raw.taggedName == nil ? try volume(raw.volumeID, budget: budget)?.disk(region: region) : nil
        return raw.snapshot(region: region, source: source)
    }

    // MARK: Waiting

    /// Polls a job until it finishes; when the deadline comes first, throws `pending()` (the caller's retry finds
    /// the object by its tag and continues to wait).
    /// The job an answer names (`job_id`), waited for within the budget: while it still runs at the deadline the
    /// disk is busy (`operationInFlight`, the caller retries); a failed job is `unavailable` with its error code.
    func finishJob(_ service: CloudService, answer: JSON, disk: DiskID, budget: CallBudget,
                   operation: String) throws(BackendError) {
        guard let jobID = answer["job_id"].string else { throw .storage("\(operation): no job_id in the answer") }
        let job = try waitForJob(service, jobID, budget: budget, operation: operation,
                                 pending: { () throws(BackendError) in .rule(.operationInFlight(key: disk.rawValue)) })
        guard job.succeeded else {
            throw .unavailable("\(operation): job \(jobID) failed: \(job.errorCode) \(job.failReason)".trimmingSpaces)
        }
    }

    func waitForJob(_ service: CloudService, _ jobID: String, budget: CallBudget, operation: String,
                    pending: () throws(BackendError) -> BackendError) throws(BackendError) -> EVSJob {
        while true {
            let job: EVSJob
            do {
                job = EVSJob(json: try client.call(service, "GET", "/v1/\(project)/jobs/\(jobID)",
                                                   operation: "\(operation): job \(jobID)", budget: budget))
            } catch where isDeadline(error) {
                throw try pending()
            } catch {
                throw map(error, kind: "job", id: jobID)
            }
            if job.isFinished { return job }
            do {
                try client.pause(budget: budget, operation: operation, last: "job \(jobID) \(job.status)")
            } catch {
                throw try pending()
            }
        }
    }

    /// Polls the snapshot while `condition` holds; nil when it is gone. At the deadline it returns the snapshot
    /// as it is (the caller's rule check then refuses it).
    func waitWhile(snapshot id: String, budget: CallBudget, _ condition: (EVSSnapshot) -> Bool) throws(BackendError) -> EVSSnapshot? {
        var last: EVSSnapshot?
        while true {
            let read: EVSSnapshot?
            do {
                read = try findRawSnapshot(id, budget: budget)
            } catch {
                // The deadline came during a poll's request: the snapshot as last seen, as when it comes between
                // two polls (before, a slow answer turned R11's refusal into DEADLINE_EXCEEDED).
                if case .deadlineExceeded = error, let last { return last }
                throw error
            }
            guard let current = read else { return nil }
            last = current
            if !condition(current) { return current }
            do {
                try client.pause(budget: budget, operation: "snapshot \(id)", last: current.statusText)
            } catch {
                return current
            }
        }
    }

    /// Polls the volume while `condition` holds; nil when it is gone. Throws operationInFlight at the deadline.
    func waitWhile(volume id: String, budget: CallBudget, operation: String,
                   _ condition: (EVSVolume) -> Bool) throws(BackendError) -> EVSVolume? {
        while true {
            guard let current = try volume(id, budget: budget) else { return nil }
            if !condition(current) { return current }
            do {
                try client.pause(budget: budget, operation: operation, last: "disk \(id) \(current.statusText)")
            } catch {
                throw .rule(.operationInFlight(key: id))
            }
        }
    }

    private func pauseAfterFailure(attempt: Int, budget: CallBudget, error: CloudAPIError) throws(BackendError) {
        var delay = client.configuration.initialBackoff
        for _ in 0..<min(attempt, 16) { delay = min(delay * 2, client.configuration.maxBackoff) }
        if delay >= budget.remaining { throw .deadlineExceeded("\(error) (no time left to try again)") }
        sleepFor(delay)
    }

    private func isDeadline(_ error: CloudAPIError) -> Bool { if case .deadline = error { true } else { false } }

    // MARK: Errors

    /// EVS/ECS answers → the backend's vocabulary; StatusMapping maps that to gRPC codes.
    func map(_ error: CloudAPIError, kind: String, id: String) -> BackendError {
        switch error {
        case .deadline: return .deadlineExceeded(error.description)
        case .authentication: return .permissionDenied(error.description)
        case .transport, .malformed: return .unavailable(error.description)
        case .api(_, let status, let code, _):
            if code == "EVS.5404" || status == 404 { return .notFound(kind: kind, id: id) }
            if status == 429 || status >= 500 { return .unavailable(error.description) }
            if status == 403 { return .permissionDenied(error.description) }
            // Quota: EVS.1034 (disk count), EVS.1042 (gigabytes), both 400; 413 EVS.5413 "Insufficient volume quota";
            // ECS's attach limit Ecs.0104. RESOURCE_EXHAUSTED through StatusMapping.
            if status == 413 || ["EVS.1034", "EVS.1042", "EVS.5413"].contains(code) || code.hasSuffix(".0104") {
                return .limitExceeded(error.description)
            }
            // Ecs.0103: the disk is not available to attach (in use elsewhere, or changing state).
            if code == "Ecs.0103" { return .busy(error.description) }
            if status == 409 { return .busy(error.description) }
            return .invalid(error.description)
        }
    }

    // MARK: Paging

    /// One page of `items` ordered by (created, id); the token is `evs:<seconds>.<nanos>:<id>` of the last item.
    static func page<T>(_ items: [((seconds: Int64, nanos: Int32), String, T)], maxEntries: Int,
                        token: String?) throws(BackendError) -> (items: [T], next: String?) {
        var sorted = items.sorted { a, b in
            (a.0.seconds, a.0.nanos, a.1) < (b.0.seconds, b.0.nanos, b.1)
        }
        if let token {
            guard let after = parseToken(token) else { throw .invalidToken(token) }
            sorted = sorted.filter { ($0.0.seconds, $0.0.nanos, $0.1) > (after.seconds, after.nanos, after.id) }
        }
        guard maxEntries > 0, sorted.count > maxEntries else { return (sorted.map(\.2), nil) }
        let page = Array(sorted.prefix(maxEntries))
        let last = page[page.count - 1]
        return (page.map(\.2), "evs:\(last.0.seconds).\(last.0.nanos):\(last.1)")
    }

    static func parseToken(_ token: String) -> (seconds: Int64, nanos: Int32, id: String)? {
        guard token.hasPrefix("evs:") else { return nil }
        let rest = token.dropFirst(4)
        guard let colon = rest.firstIndex(of: ":") else { return nil }
        let time = rest[..<colon].split(separator: ".")
        let id = String(rest[rest.index(after: colon)...])
        guard time.count == 2, let s = Int64(time[0]), let n = Int32(time[1]), !id.isEmpty else { return nil }
        return (s, n, id)
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
