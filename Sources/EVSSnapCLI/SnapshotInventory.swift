/// Which snapshots exist for which disk (R5), counted the way EVS counts them: every
/// VolumeSnapshotContent whose `spec.source.volumeHandle` is the disk, plus every VolumeSnapshot
/// of a PVC bound to that disk that has no content yet. A snapshot is counted once.
struct SnapshotInventory {
    /// Disk (volumeHandle) -> identities of its snapshots (`content:NAME` or `snapshot:NS/NAME`).
    private(set) var members: [String: Set<String>] = [:]
    /// Content name -> disk.
    private var contentDisk: [String: String] = [:]
    /// `NS/PVC` -> disk, for snapshots without content.
    private var pvcDisk: [String: String] = [:]

    init(contents: [VolumeSnapshotContent], snapshots: [VolumeSnapshot], pvcDisk: [String: String]) {
        self.pvcDisk = pvcDisk
        for c in contents {
            guard let disk = c.volumeHandle else { continue }
            contentDisk[c.name] = disk
            members[disk, default: []].insert("content:\(c.name)")
        }
        for s in snapshots {
            if let bound = s.boundContentName, contentDisk[bound] != nil { continue }
            guard let disk = disk(of: s) else { continue }
            members[disk, default: []].insert("snapshot:\(s.namespace ?? "")/\(s.name)")
        }
    }

    /// The disk a snapshot was taken of: its content's volumeHandle, else its source PVC's PV.
    func disk(of s: VolumeSnapshot) -> String? {
        if let bound = s.boundContentName, let d = contentDisk[bound] { return d }
        if let pvc = s.sourcePVC { return pvcDisk["\(s.namespace ?? "")/\(pvc)"] }
        return nil
    }

    /// How many snapshots the disk has.
    func count(disk: String) -> Int { members[disk]?.count ?? 0 }

    /// Whether some snapshot's disk can only be found through its source PVC.
    static func needsPVCs(contents: [VolumeSnapshotContent], snapshots: [VolumeSnapshot]) -> Bool {
        let known = Set(contents.filter { $0.volumeHandle != nil }.map(\.name))
        return snapshots.contains { s in s.boundContentName.map { !known.contains($0) } ?? true }
    }

    /// `NS/PVC` -> disk from PVC and PV lists.
    static func pvcDiskMap(pvcs: [PVC], pvs: [PV]) -> [String: String] {
        var handleOfPV: [String: String] = [:]
        for pv in pvs { if let h = pv.volumeHandle { handleOfPV[pv.name] = h } }
        var map: [String: String] = [:]
        for pvc in pvcs {
            if let v = pvc.volumeName, let h = handleOfPV[v] { map["\(pvc.namespace ?? "")/\(pvc.name)"] = h }
        }
        return map
    }
}
