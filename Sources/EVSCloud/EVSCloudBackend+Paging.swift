// The EVS backend's reads: one disk, every disk or snapshot matching a query (EVS's offset/limit pages followed to
// the end), the driver's tagged objects; and the CSI list pages cut from them (ordered by creation time and id,
// with `evs:<seconds>.<nanos>:<id>` tokens).
import JSONCore
import EVSSnapshotRules
import TimeCore

extension EVSCloudBackend {
    func volume(_ id: String, budget: CallBudget) throws(BackendError) -> EVSVolume? {
        do {
            let answer = try client.call(.evs, "GET", "/v2/\(project)/cloudvolumes/\(id)", operation: "EVS get disk \(id)",
                                         budget: budget)
            return EVSVolume(json: answer["volume"])
        } catch where error.isNotFound {
            return nil
        } catch where error.code == "EVS.1002" {
            return nil  // "invalid volume id!": not even an EVS disk id, so no such disk. Any other 400 (EVS.0001, a
                        // wrong project id) is an error: taking it for "gone" made DeleteVolume succeed doing nothing.
        } catch {
            throw map(error, kind: "disk", id: id)
        }
    }

    /// Every volume matching `query`.
    func allVolumes(query: [(String, String)], budget: CallBudget) throws(BackendError) -> [EVSVolume] {
        try allPages("cloudvolumes", key: "volumes", query: query, operation: "EVS list disks", kind: "disks",
                     budget: budget).map(EVSVolume.init)
    }

    /// Every snapshot matching `query`.
    func allSnapshots(query: [(String, String)], budget: CallBudget) throws(BackendError) -> [EVSSnapshot] {
        try allPages("cloudsnapshots", key: "snapshots", query: query, operation: "EVS list snapshots",
                     kind: "snapshots", budget: budget).map(EVSSnapshot.init)
    }

    /// The objects under `key` of `GET /v2/{project_id}/<collection>/detail?<query>`, following EVS's offset/limit
    /// pages to the end.
    private func allPages(_ collection: String, key: String, query: [(String, String)], operation: String, kind: String,
                          budget: CallBudget) throws(BackendError) -> [JSON] {
        var out: [JSON] = []
        let limit = 1000
        while true {
            let answer: JSON
            do {
                answer = try client.call(.evs, "GET", "/v2/\(project)/\(collection)/detail",
                                         query: query + Self.pageQuery(limit: limit, offset: out.count),
                                         operation: operation, budget: budget)
            } catch {
                throw map(error, kind: kind, id: "")
            }
            let page = answer[key].array ?? []
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
        var newest: (created: Instant, volume: EVSVolume)?
        for volume in matches {
            let created = try created(volume)
            if newest.map({ created > $0.created }) ?? true { newest = (created, volume) }
        }
        return newest?.volume
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

    /// When EVS made `object`; a `created_at` that cannot be read is a malformed answer (UNAVAILABLE), not 1970.
    func created(_ object: some EVSObject) throws(BackendError) -> Instant {
        do { return try object.created() } catch { throw map(error, kind: type(of: object).kind, id: object.id) }
    }

    /// One page of `items` ordered by (created, id); the token is `evs:<seconds>.<nanos>:<id>` of the last item.
    static func page<T>(_ items: [(Instant, String, T)], maxEntries: Int,
                        token: String?) throws(BackendError) -> (items: [T], next: String?) {
        var sorted = items.sorted { a, b in
            (a.0.seconds, a.0.nanoseconds, a.1) < (b.0.seconds, b.0.nanoseconds, b.1)
        }
        if let token {
            guard let after = parseToken(token) else { throw .invalidToken(token) }
            sorted = sorted.filter { ($0.0.seconds, $0.0.nanoseconds, $0.1) > (after.seconds, after.nanos, after.id) }
        }
        guard maxEntries > 0, sorted.count > maxEntries else { return (sorted.map(\.2), nil) }
        let page = Array(sorted.prefix(maxEntries))
        let last = page[page.count - 1]
        return (page.map(\.2), "evs:\(last.0.seconds).\(last.0.nanoseconds):\(last.1)")
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
