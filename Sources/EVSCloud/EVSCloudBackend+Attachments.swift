// The EVS backend's attachments through ECS: attach and detach (ECS jobs), the publish mode recorded in the disk's
// metadata (ECS has no read-only attach). ECS paths: POST /v1/{project_id}/cloudservers/{server_id}/attachvolume,
// DELETE /v1/{project_id}/cloudservers/{server_id}/detachvolume/{volume_id}; EVS metadata: POST
// /v2/{project_id}/volumes/{volume_id}/metadata, DELETE …/metadata/{key}.
import JSONCore
import EVSSnapshotRules

extension EVSCloudBackend {
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

    static func modeName(_ readOnly: Bool) -> String { readOnly ? "read-only" : "read-write" }

    /// `POST /v2/{project_id}/volumes/{volume_id}/metadata` (add or update; safe to repeat).
    func recordAttachMode(disk: DiskID, node: String, readOnly: Bool, budget: CallBudget) throws(BackendError) {
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
    func forgetAttachMode(disk: DiskID, node: String, budget: CallBudget) throws(BackendError) {
        _ = try deleteIfPresent("/v2/\(project)/volumes/\(disk.rawValue)/metadata/\(EVSMetadata.attachMode(server: node))",
                                operation: "EVS forget attach mode of disk \(disk) on server \(node)", kind: "disk",
                                id: disk.rawValue, budget: budget)
    }

    func attachment(_ volume: EVSVolume, node: String) -> DiskAttachment {
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
}
