import EVSSnapshotRules

extension EVSEmulator {
    /// VOLUME_CONDITION for a disk: abnormal when its status is `error`, or its image file is missing,
    /// not a regular file, unreadable, or (outside a create or expand in progress) shorter than its capacity.
    public func diskHealth(_ disk: Disk) -> BackendHealth {
        if disk.status == .error { return BackendHealth(isHealthy: false, detail: "disk \(disk.id) is in error") }
        let settled = disk.status != .creating && disk.status != .extending
        if let problem = StateLayout.imageProblem(path: diskImagePath(disk.id),
                                                  capacityBytes: settled ? Int64(disk.capacityGiB) << 30 : nil) {
            return BackendHealth(isHealthy: false, detail: "disk \(disk.id): \(problem)")
        }
        return BackendHealth(isHealthy: true, detail: "disk \(disk.id) is \(disk.status)")
    }
}
