// The EVS backend's snapshots: create (R14, R3, R4, R5; idempotent by the driver's tag), delete (R13, R11), get, list.
// EVS paths: POST/GET/DELETE /v2/{project_id}/cloudsnapshots[/detail|/{id}].
import JSONCore
import EVSSnapshotRules
import TimeCore

extension EVSCloudBackend {
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
                return try EVSSnapshot(json: answer["snapshot"]).snapshot(region: region, source: disk)
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

    func deleteSnapshotObject(_ id: String, budget: CallBudget) throws(BackendError) {
        _ = try deleteIfPresent("/v2/\(project)/cloudsnapshots/\(id)", operation: "EVS delete snapshot \(id)",
                                kind: "snapshot", id: id, budget: budget)
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
        var entries: [(Instant, String, EVSSnapshot)] = []
        for raw in all { entries.append((try created(raw), raw.id, raw)) }
        let page = try Self.page(entries, maxEntries: maxEntries, token: startingToken)
        var items: [Snapshot] = []
        for raw in page.items { items.append(try snapshotValue(raw, budget: budget)) }
        return BackendPage(items: items, nextToken: page.next)
    }

    func snapshotValue(_ raw: EVSSnapshot, budget: CallBudget) throws(BackendError) -> Snapshot {
        // A snapshot the driver made records its source's attributes; another one is read from its disk.
        let source = raw.taggedName == nil ? try volume(raw.volumeID, budget: budget)?.disk(region: region) : nil
        do { return try raw.snapshot(region: region, source: source) } catch { throw map(error, kind: "snapshot", id: raw.id) }
    }
}
