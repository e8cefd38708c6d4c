// The EVS backend's disks: create (idempotent by the driver's metadata tag, a failed create's disk deleted, a restore
// checked against its snapshot's source after the job: R8), delete (R13), get, list, expand (R12), and the
// provisioned performance change (ModifyVolumeQoS). EVS paths: POST /v2.1/{project_id}/cloudvolumes (job), GET and
// DELETE /v2/{project_id}/cloudvolumes/{id}, POST /v2.1/{project_id}/cloudvolumes/{id}/action {"os-extend"} (job),
// PUT /v5/{project_id}/cloudvolumes/{id}/qos (job).
import JSONCore
import EVSSnapshotRules
import TimeCore

extension EVSCloudBackend {
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
    func adopt(_ volume: EVSVolume, name: String, spec: DiskSpec, source: SnapshotID?,
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
    func checkRestored(_ volume: EVSVolume, planned: Disk, budget: CallBudget) throws(BackendError) {
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

    func createBody(name: String, spec: DiskSpec, source: SnapshotID?,
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
                        sharing: spec.sharing ?? .nonShared, topology: try spec.topology(offered: topologies), status: .creating,
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

    func checkCompatible(_ volume: EVSVolume, spec: DiskSpec, source: SnapshotID?) throws(BackendError) -> Disk {
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

    /// Deletes a disk a failed create left behind, and waits until it is gone.
    func removeFailed(_ volume: EVSVolume, budget: CallBudget) throws(BackendError) {
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

    func deleteVolume(_ volume: EVSVolume, budget: CallBudget) throws(BackendError) {
        let operation = "EVS delete disk \(volume.id)"
        if volume.status != .deleting {
            guard let answer = try deleteIfPresent("/v2/\(project)/cloudvolumes/\(volume.id)", operation: operation,
                                                   kind: "disk", id: volume.id, budget: budget) else { return }
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
        var items: [(Instant, String, EVSVolume)] = []
        for volume in all { items.append((try created(volume), volume.id, volume)) }
        let page = try Self.page(items, maxEntries: maxEntries, token: startingToken)
        return BackendPage(items: page.items.map { $0.disk(region: region) }, nextToken: page.next)
    }

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
}
