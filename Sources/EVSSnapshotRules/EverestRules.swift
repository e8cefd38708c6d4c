// One validation per rule of EVEREST.md. Each throws `EverestRuleViolation` and nothing else.

/// The Everest rules R1-R14 as functions over plain values.
public enum EverestRules {

    // MARK: R1 Cluster version

    /// R1: snapshots need a cluster of `settings.minimumClusterVersion` (v1.15) or later.
    public static func checkClusterVersion(_ version: KubeVersion, settings: RuleSettings = .default)
        throws(EverestRuleViolation) {
        if version < settings.minimumClusterVersion {
            throw .clusterTooOld(found: version, minimum: settings.minimumClusterVersion)
        }
    }

    /// R1: the same check from `/version`'s `gitVersion` (`v1.36.2`, `v1.15.3-eks-1`).
    @discardableResult
    public static func checkClusterVersion(gitVersion: String, settings: RuleSettings = .default)
        throws(EverestRuleViolation) -> KubeVersion {
        guard let version = KubeVersion(gitVersion: gitVersion) else { throw .clusterVersionUnreadable(gitVersion) }
        try checkClusterVersion(version, settings: settings)
        return version
    }

    /// R1: the same check from `/version`'s `major` and `minor` (`"1"`, `"15+"`).
    @discardableResult
    public static func checkClusterVersion(major: String, minor: String, settings: RuleSettings = .default)
        throws(EverestRuleViolation) -> KubeVersion {
        guard let version = KubeVersion(major: major, minor: minor) else {
            throw .clusterVersionUnreadable("\(major).\(minor)")
        }
        try checkClusterVersion(version, settings: settings)
        return version
    }

    // MARK: R2 Everest CSI present

    /// R2: the driver is registered, the snapshot group is served (v1 preferred, else v1beta1) and the
    /// snapshot class exists and belongs to the driver. Returns the snapshot API version to use.
    /// - Parameters:
    ///   - registeredDrivers: names of the cluster's CSIDriver objects.
    ///   - servedSnapshotVersions: versions of `snapshot.storage.k8s.io` that discovery lists.
    ///   - snapshotClass: the class the user named (or the default), nil when it does not exist.
    ///   - className: the class name asked for (nil = `settings.defaultSnapshotClass`).
    @discardableResult
    public static func checkEverestPresent(
        registeredDrivers: [String], servedSnapshotVersions: [String], snapshotClass: SnapshotClassInfo?,
        className: String? = nil, settings: RuleSettings = .default
    ) throws(EverestRuleViolation) -> String {
        guard registeredDrivers.contains(settings.driverName) else {
            throw .driverNotRegistered(driver: settings.driverName)
        }
        guard let version = EverestNames.snapshotVersions.first(where: { servedSnapshotVersions.contains($0) }) else {
            throw .snapshotAPINotServed(group: EverestNames.snapshotGroup, served: servedSnapshotVersions)
        }
        let wanted = className ?? settings.defaultSnapshotClass
        guard let snapshotClass else { throw .snapshotClassMissing(name: wanted) }
        guard snapshotClass.driver == settings.driverName else {
            throw .snapshotClassWrongDriver(name: snapshotClass.name, driver: snapshotClass.driver,
                                            expected: settings.driverName)
        }
        return version
    }

    // MARK: R3 EVS PVCs only

    /// R3: only PVCs bound to a PV of the Everest CSI driver can be snapshotted. The PV's `spec.csi.driver`
    /// is the authority; FlexVolume PVs and classes (`ssd`, `sas`, `sata`) and other drivers are refused.
    /// A PVC without a class (a statically bound PV) is judged by its PV alone; a PVC with a class must also name one
    /// of Everest's `csi*` classes (`csi-disk`, `csi-disk-topology`, ...), the other half of R3.
    public static func checkEVSVolume(_ pvc: PVCFacts, settings: RuleSettings = .default) throws(EverestRuleViolation) {
        if pvc.storageFormat == .flexVolume {
            throw .flexVolumePVC(pvc: pvc.name, storageClass: pvc.storageClassName ?? "")
        }
        guard pvc.volumeName != nil || pvc.csiDriver != nil else { throw .pvcHasNoVolume(pvc: pvc.name) }
        guard let driver = pvc.csiDriver else { throw .notCSIVolume(pvc: pvc.name) }
        guard driver == settings.driverName else {
            throw .otherDriver(pvc: pvc.name, driver: driver, expected: settings.driverName)
        }
        if let sc = pvc.storageClassName, !sc.isEmpty, !isCSIStorageClassName(sc) {
            throw .notCSIStorageClass(pvc: pvc.name, storageClass: sc)
        }
    }

    /// R3: the storage format of a disk the driver holds: only CSI disks can be snapshotted.
    public static func checkStorageFormat(_ disk: Disk) throws(EverestRuleViolation) {
        if disk.storageFormat != .csi { throw .notCSIVolume(pvc: disk.name) }
    }

    /// R3: whether a StorageClass name has the `csi*` form of Everest's classes.
    public static func isCSIStorageClassName(_ name: String) -> Bool { name.hasPrefix("csi") }

    // MARK: R4 Disk state

    /// R4: only `available` and `in-use` disks can be snapshotted.
    public static func checkSnapshottable(_ disk: Disk) throws(EverestRuleViolation) {
        guard disk.status.isSnapshottable else { throw .diskNotSnapshottable(disk: disk.id, status: disk.status) }
    }

    /// R4 in Kubernetes terms: the PVC must be Bound.
    public static func checkPVCBound(_ pvc: PVCFacts) throws(EverestRuleViolation) {
        guard pvc.phase == "Bound" else { throw .pvcNotBound(pvc: pvc.name, phase: pvc.phase) }
    }

    // MARK: R5 Snapshot quota

    /// R5: a disk with `existingSnapshots` snapshots may get one more only while below the limit
    /// (default 7: the 7th is allowed, the 8th refused).
    public static func checkSnapshotQuota(disk: DiskID, existingSnapshots: Int, settings: RuleSettings = .default)
        throws(EverestRuleViolation) {
        if existingSnapshots >= settings.maxSnapshotsPerDisk {
            throw .snapshotQuotaReached(disk: disk, count: existingSnapshots, limit: settings.maxSnapshotsPerDisk)
        }
    }

    // MARK: R6 Encryption follows the disk

    /// R6: a snapshot is stored with its disk's encryption (same KMS key, or plain).
    public static func snapshotEncryption(of disk: Disk) -> Encryption { disk.encryption }

    /// R6: a disk restored from a snapshot gets the snapshot's encryption.
    public static func restoredEncryption(from snapshot: Snapshot) -> Encryption { snapshot.encryption }

    // MARK: R7 New disks only

    /// R7: the restore target name must not exist yet (a PVC name in the namespace, or a disk name).
    public static func checkRestoreTargetIsNew(name: String, existingNames: Set<String>) throws(EverestRuleViolation) {
        if existingNames.contains(name) { throw .restoreTargetExists(name: name) }
    }

    /// R7: a new volume comes from a snapshot or from nothing; cloning another volume is refused.
    /// (Rolling a snapshot back onto its source disk is refused by `checkRestoreTargetIsNew`: the source's
    /// name is taken.)
    public static func checkNotClone(sourceVolume: String?) throws(EverestRuleViolation) {
        if let sourceVolume { throw .cloneNotSupported(sourceVolume: sourceVolume) }
    }

    // MARK: R8 The restored disk matches its source

    /// R8: every attribute the request states that differs from the source, in the order
    /// type, mode, encryption, sharing, capacity. Empty when the restore is allowed.
    public static func restoreMismatches(_ request: RestoreRequest, snapshot: Snapshot,
                                         settings: RuleSettings = .default) -> [EverestRuleViolation] {
        let disk = snapshot.sourceDiskID
        var found: [EverestRuleViolation] = []
        if let type = request.type, type != snapshot.sourceType {
            found.append(.typeDiffers(requested: type, source: snapshot.sourceType, disk: disk))
        }
        if let mode = request.mode, mode != snapshot.sourceMode {
            found.append(.modeDiffers(requested: mode, source: snapshot.sourceMode, disk: disk))
        }
        if let encryption = request.encryption, encryption != snapshot.encryption {
            found.append(.encryptionDiffers(requested: encryption, source: snapshot.encryption, disk: disk))
        }
        if let sharing = request.sharing, sharing != snapshot.sourceSharing {
            found.append(.sharingDiffers(requested: sharing, source: snapshot.sourceSharing, disk: disk))
        }
        let capacityOK = switch settings.capacityMatch {
        case .equal: request.capacityGiB == snapshot.sizeGiB
        case .atLeast: request.capacityGiB >= snapshot.sizeGiB
        }
        if !capacityOK {
            found.append(.capacityDiffers(requestedGiB: request.capacityGiB, sourceGiB: snapshot.sizeGiB,
                                          match: settings.capacityMatch, disk: disk))
        }
        return found
    }

    /// R8: throws the first mismatch of `restoreMismatches`.
    public static func checkRestoreMatchesSource(_ request: RestoreRequest, snapshot: Snapshot,
                                                 settings: RuleSettings = .default) throws(EverestRuleViolation) {
        if let first = restoreMismatches(request, snapshot: snapshot, settings: settings).first { throw first }
    }

    // MARK: R9 Same place

    /// R9: the restored disk is created in the snapshot's zone; a topology requirement that lists zones
    /// must include it. An empty list means no requirement.
    public static func checkZone(snapshot: Snapshot, allowedZones: [String]) throws(EverestRuleViolation) {
        if !allowedZones.isEmpty && !allowedZones.contains(snapshot.sourceTopology.zone) {
            throw .zoneNotAllowed(zone: snapshot.sourceTopology.zone, allowed: allowedZones, snapshot: snapshot.id)
        }
    }

    /// R9: where the restored disk is created: always the snapshot's region and zone.
    public static func restoreTopology(for snapshot: Snapshot) -> Topology { snapshot.sourceTopology }

    // MARK: R11 Snapshot readiness

    /// R11: only a ready (available) snapshot can be restored.
    public static func checkReadyToRestore(_ snapshot: Snapshot) throws(EverestRuleViolation) {
        guard snapshot.status.isReadyToUse else { throw .snapshotNotReady(snapshot: snapshot.id, status: snapshot.status) }
    }

    /// R11: a snapshot must not be deleted while a PVC restored from it is still Pending.
    /// - Parameter pendingRestorePVCs: names of Pending PVCs whose dataSource names this snapshot.
    public static func checkNoPendingRestore(snapshot: SnapshotID, pendingRestorePVCs: [String])
        throws(EverestRuleViolation) {
        if let pvc = pendingRestorePVCs.sorted().first { throw .restorePending(snapshot: snapshot, pvc: pvc) }
    }

    // MARK: R12 Sizes

    /// R12: a capacity in whole GiB must be within 1...32768.
    public static func checkCapacity(gib: Int) throws(EverestRuleViolation) {
        guard (EverestNames.minCapacityGiB...EverestNames.maxCapacityGiB).contains(gib) else {
            throw .capacityOutOfRange(requestedGiB: gib, min: EverestNames.minCapacityGiB, max: EverestNames.maxCapacityGiB)
        }
    }

    /// R12: parses a storage quantity, rounds it up to whole GiB and checks the bounds.
    public static func capacityGiB(fromQuantity text: String) throws(EverestRuleViolation) -> Int {
        let quantity: Quantity
        do { quantity = try Quantity(parsing: text) } catch {
            throw .malformedQuantity(text: text, reason: error.description)
        }
        return try capacityGiB(from: quantity)
    }

    /// R12: rounds a quantity of bytes up to whole GiB and checks the bounds.
    public static func capacityGiB(from quantity: Quantity) throws(EverestRuleViolation) -> Int {
        let gib = quantity.roundedUpGiB
        try checkCapacity(gib: gib)
        return gib
    }

    /// R12: CSI `CapacityRange` (bytes; 0 = unset) to whole GiB: the required bytes rounded up, refused if
    /// that exceeds the limit or leaves 1...32768. With neither bound set the result is `defaultGiB`.
    public static func capacityGiB(requiredBytes: Int64, limitBytes: Int64, defaultGiB: Int = 1)
        throws(EverestRuleViolation) -> Int {
        let gibBytes: Int64 = 1 << 30
        var gib: Int
        if requiredBytes > 0 {
            gib = Int(requiredBytes / gibBytes + (requiredBytes % gibBytes == 0 ? 0 : 1))
        } else if limitBytes > 0 {
            gib = Int(limitBytes / gibBytes)
        } else {
            gib = defaultGiB
        }
        if limitBytes > 0 && Int64(gib) * gibBytes > limitBytes {
            throw .capacityOutOfRange(requestedGiB: gib, min: EverestNames.minCapacityGiB,
                                      max: Int(min(Int64(EverestNames.maxCapacityGiB), limitBytes / gibBytes)))
        }
        try checkCapacity(gib: gib)
        return gib
    }

    /// R12: the warning for a quantity without a unit (`'10'` is 10 bytes), or nil.
    public static func quantityWarning(_ text: String) -> RuleWarning? {
        guard let q = Quantity(text), !q.hasUnit, q.signum > 0 else { return nil }
        return .quantityWithoutUnit(text: text, roundedGiB: q.roundedUpGiB)
    }

    // MARK: R13 Deleting

    /// R13: a snapshot can be deleted when available or in error; an unknown snapshot (nil status) is
    /// already gone, so deleting it succeeds.
    public static func checkSnapshotDeletable(_ snapshot: SnapshotID, status: SnapshotStatus?)
        throws(EverestRuleViolation) {
        guard let status else { return }
        guard status.isDeletable else { throw .snapshotNotDeletable(snapshot: snapshot, status: status) }
    }

    /// R13: a disk that still has snapshots is not deleted.
    public static func checkDiskDeletable(_ disk: DiskID, snapshotCount: Int) throws(EverestRuleViolation) {
        if snapshotCount > 0 { throw .diskHasSnapshots(disk: disk, count: snapshotCount) }
    }

    // MARK: R14 Names

    /// R14: CSI names: non-empty, at most 128 characters.
    public static func checkName(_ name: String) throws(EverestRuleViolation) {
        if name.isEmpty { throw .nameEmpty }
        let length = name.count
        if length > EverestNames.maxNameLength {
            throw .nameTooLong(name: name, length: length, max: EverestNames.maxNameLength)
        }
    }

    /// R14: snapshot names: a valid CSI name that does not start with `autobk_snapshot_`.
    public static func checkSnapshotName(_ name: String) throws(EverestRuleViolation) {
        try checkName(name)
        if name.hasPrefix(EverestNames.reservedSnapshotPrefix) {
            throw .reservedSnapshotName(name: name, prefix: EverestNames.reservedSnapshotPrefix)
        }
    }
}
