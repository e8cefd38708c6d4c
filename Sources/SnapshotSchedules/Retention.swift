// Which snapshots a schedule deletes before it takes the next one, as a pure function of what exists.
//
// R5 (EVEREST.md): a disk holds at most `maxSnapshotsPerDisk` snapshots (7 on CCE). A schedule keeps at most
// `maxCount` of its own and none older than `maxAge`; when the next snapshot would pass either limit, the
// oldest ready snapshots of THIS schedule are deleted first, and the new one is taken only once those
// deletions are done. Snapshots taken by hand or by another schedule are never touched: when they alone fill
// the disk, the schedule takes nothing and says which snapshots fill it.

/// One snapshot of the disk, as the retention decision sees it.
public struct DiskSnapshot: Sendable, Hashable {
    /// The VolumeSnapshot's name.
    public var name: String
    /// When it was taken (its scheduled slot for the schedule's own), seconds since the epoch.
    public var taken: Int64
    /// Whether this schedule made it (its label names this schedule).
    public var ownedBySchedule: Bool
    /// readyToUse is true.
    public var ready: Bool
    /// It failed (an error and not ready): holds no data.
    public var failed: Bool
    /// A deletion is under way (deletionTimestamp set): it still counts against R5 until it is gone.
    public var deleting: Bool

    public init(name: String, taken: Int64, ownedBySchedule: Bool, ready: Bool = true, failed: Bool = false, deleting: Bool = false) {
        self.name = name; self.taken = taken; self.ownedBySchedule = ownedBySchedule
        self.ready = ready; self.failed = failed; self.deleting = deleting
    }
}

/// What a schedule keeps.
public struct RetentionPolicy: Sendable, Hashable {
    /// Most snapshots of this schedule per PVC (the `--keep` / `retention.maxCount`), ≥ 1.
    public var maxCount: Int
    /// Snapshots of this schedule older than this many seconds are deleted (nil: no age limit).
    public var maxAge: Int64?
    /// R5: the disk's limit, as the driver publishes it (`evssnap.io/max-snapshots-per-disk`).
    public var perDiskLimit: Int

    public init(maxCount: Int, maxAge: Int64? = nil, perDiskLimit: Int) {
        self.maxCount = maxCount; self.maxAge = maxAge; self.perDiskLimit = perDiskLimit
    }
}

/// The retention decision for one PVC at one run.
public struct RetentionPlan: Sendable, Hashable {
    /// Delete these (this schedule's only), oldest first: expired ones, failed ones, then rotation.
    public var delete: [String]
    /// What to do about the new snapshot.
    public var next: Next

    public enum Next: Sendable, Hashable {
        /// Take the new snapshot now (nothing needs to go first).
        case create
        /// Take it once every deletion in `delete` (and those already under way) is done.
        case createAfterDeletions
        /// Do not take it: snapshots this schedule may not delete fill the disk (R5). `blocking` names them.
        case refused(limit: Int, blocking: [String])
        /// Do not take it yet: this schedule's own snapshots that are neither ready nor failed fill the limit.
        case waitForReady([String])
    }
}

public enum Retention {
    /// The decision for one run. `existing` is every snapshot of the PVC's disk; `now` the run's instant;
    /// `creating` false only applies expiry (a run that takes no new snapshot, e.g. `disabled` is false but
    /// the slot is already taken).
    ///
    /// R5: after the deletions, the disk holds fewer than `perDiskLimit` snapshots, and the schedule fewer than
    /// `maxCount`, so the new one fits both.
    public static func plan(existing: [DiskSnapshot], policy: RetentionPolicy, now: Int64, creating: Bool = true) -> RetentionPlan {
        let maxCount = max(1, policy.maxCount)
        var remaining = existing
        var delete: [String] = []
        func drop(_ s: DiskSnapshot) {
            delete.append(s.name)
            remaining.removeAll { $0.name == s.name }
        }
        // Expired (maxAge) and failed snapshots of this schedule go first, whatever the counts.
        for s in existing.sorted(by: order) where s.ownedBySchedule && !s.deleting {
            if let age = policy.maxAge, s.ready, now - s.taken >= age { drop(s) } else if s.failed { drop(s) }
        }
        guard creating else { return RetentionPlan(delete: delete, next: delete.isEmpty ? .create : .createAfterDeletions) }
        // Rotation: the oldest ready snapshots of this schedule, until the new one fits both limits.
        let rotatable = remaining.filter { $0.ownedBySchedule && $0.ready && !$0.deleting }.sorted(by: order)
        let beforeRotation = (delete, remaining)
        var i = 0
        // Snapshots whose deletion is under way are leaving: they count against R5 until they are gone (so the
        // new one waits for them), but no further snapshot is deleted to make room they will free.
        var staying: [DiskSnapshot] { remaining.filter { !$0.deleting } }
        while (staying.count + 1 > policy.perDiskLimit || staying.filter(\.ownedBySchedule).count + 1 > maxCount),
              i < rotatable.count {
            drop(rotatable[i])
            i += 1
        }
        let fitsDisk = staying.count + 1 <= policy.perDiskLimit
        let fitsCount = staying.filter(\.ownedBySchedule).count + 1 <= maxCount
        if fitsDisk && fitsCount {
            let waiting = !delete.isEmpty || existing.contains { $0.deleting }
            return RetentionPlan(delete: delete, next: waiting ? .createAfterDeletions : .create)
        }
        let pendingOwn = remaining.filter { $0.ownedBySchedule && !$0.ready && !$0.failed && !$0.deleting }
        let deletingAny = remaining.contains { $0.deleting }
        if !fitsDisk && !deletingAny && pendingOwn.isEmpty {
            // Rotating would not make room: delete nothing for rotation, keep what expiry decided.
            let blocking = beforeRotation.1.filter { !$0.ownedBySchedule }.sorted(by: order).map(\.name)
            return RetentionPlan(delete: beforeRotation.0, next: .refused(limit: policy.perDiskLimit, blocking: blocking))
        }
        if deletingAny { return RetentionPlan(delete: delete, next: .createAfterDeletions) }
        return RetentionPlan(delete: delete, next: .waitForReady(pendingOwn.map(\.name)))
    }

    /// Oldest first; ties by name.
    static func order(_ a: DiskSnapshot, _ b: DiskSnapshot) -> Bool { a.taken != b.taken ? a.taken < b.taken : a.name < b.name }
}
