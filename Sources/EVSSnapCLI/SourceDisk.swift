import EVSSnapshotRules
import Foundation
import KubeClient

/// The EVS disk behind a PVC/PV, and the snapshot of it, as the domain's values, read from Kubernetes objects.
///
/// Attributes follow EVEREST.md "Where a disk's attributes come from" through the domain's `DiskAttributes`:
/// the PVC's annotations win over the PV's `volumeAttributes` (what the driver recorded), which win over the
/// StorageClass parameters, which win over Everest's defaults.
enum DiskFacts {
    /// Region/zone label keys read from a PVC or PV, most specific first.
    static let regionKeys = [EverestNames.regionLabel, "topology.kubernetes.io/region"]
    static let zoneKeys = [EverestNames.zoneLabel, "topology.kubernetes.io/zone"]

    /// The disk's attributes; an unreadable value is a refusal (e.g. `everest.io/disk-volume-type: FAST`).
    static func attributes(pvc: PVC?, pv: PV?, storageClass: StorageClass?) throws -> DiskAttributes {
        var parameters = (storageClass?.parameters ?? [:]).merging(pv?.volumeAttributes ?? [:]) { _, pvValue in pvValue }
        var annotations = pvc?.annotations ?? [:]
        // An existing SATA disk is fine to describe and restore from (only new SATA disks cannot be created):
        // read the other attributes with a creatable placeholder type, then put SATA back.
        let key = EverestNames.diskVolumeType
        let isSATA = (annotations[key] ?? parameters[key]) == VolumeType.sata.rawValue
        if isSATA { annotations[key] = VolumeType.sas.rawValue; parameters[key] = VolumeType.sas.rawValue }
        var stated: RestoreRequest
        do {
            // The request form leaves unstated attributes nil and does not demand GPSSD2's iops/throughput,
            // which an existing disk's objects need not repeat.
            stated = try DiskAttributes.restoreRequest(parameters: parameters, annotations: annotations, name: pv?.name ?? pvc?.volumeName ?? "disk", capacityGiB: 0)
        } catch {
            throw Rules.refusal(error)
        }
        if isSATA { stated.type = .sata }
        let defaults = DiskAttributes()
        var fs = stated.fsType ?? defaults.fsType
        if let pvFS = pv?.fsType, let parsed = FileSystemType(rawValue: pvFS) { fs = parsed }
        return DiskAttributes(type: stated.type ?? defaults.type, mode: stated.mode ?? defaults.mode,
                              encryption: stated.encryption ?? defaults.encryption,
                              sharing: stated.sharing ?? defaults.sharing, fsType: fs)
    }

    /// Region and zone: the PVC's labels, else the PV's labels, else the PV's node affinity.
    static func topology(pvc: PVC?, pv: PV?) -> Topology {
        func first(_ keys: [String]) -> String? {
            for k in keys {
                if let v = pvc?.labels[k], !v.isEmpty { return v }
                if let v = pv?.labels[k], !v.isEmpty { return v }
            }
            for k in keys { if let v = pv?.nodeAffinityValues(key: k).first { return v } }
            return nil
        }
        return Topology(region: first(regionKeys) ?? "", zone: first(zoneKeys) ?? "")
    }

    /// R4: the EVS status that the PVC and PV show. Kubernetes does not show attach state, so a healthy
    /// disk is `available` (which stands for available or in-use). Without the PV (not readable) the PVC alone decides.
    static func status(pvc: PVC?, pv: PV?) -> DiskStatus {
        if pv?.deletionTimestamp != nil || pvc?.deletionTimestamp != nil { return .deleting }
        switch pv?.phase {
        case "Failed": return .error
        case "Pending": return .creating
        default: break
        }
        let conditions = pvc?.raw["status"]["conditions"].elements.compactMap { $0["type"].string } ?? []
        if conditions.contains("Resizing") || conditions.contains("FileSystemResizePending") || conditions.contains("ControllerResizeInProgress") {
            return .extending
        }
        return .available
    }

    /// The disk as the domain sees it. `capacityGiB` nil: from the PV's capacity, else the PVC's.
    /// Without the PV (the user may not read PVs) the disk is known by the PV's name and what the PVC and
    /// StorageClass say; the attributes only the PV records are Everest's defaults then.
    static func disk(pvc: PVC?, pv: PV?, storageClass: StorageClass?, capacityGiB: Int? = nil) throws -> Disk {
        let a = try attributes(pvc: pvc, pv: pv, storageClass: storageClass)
        let gib = try capacityGiB ?? (pv?.capacity ?? pvc?.capacity).map(Rules.capacityGiB) ?? 0
        let name = pv?.name ?? pvc?.volumeName ?? ""
        return Disk(id: DiskID(pv?.volumeHandle ?? name), name: name, capacityGiB: gib, type: a.type, mode: a.mode,
                    encryption: a.encryption, sharing: a.sharing, topology: topology(pvc: pvc, pv: pv),
                    status: status(pvc: pvc, pv: pv), storageFormat: pv?.isFlexVolume == true ? .flexVolume : .csi, fsType: a.fsType)
    }
}

/// A VolumeSnapshot with everything a restore or describe needs: its content, source PVC and PV, and the
/// domain's `Snapshot` value carrying the source disk's attributes.
struct SourceDisk {
    var volumeSnapshot: VolumeSnapshot
    var content: VolumeSnapshotContent?
    var pvc: PVC?
    var pv: PV?
    var storageClass: StorageClass?
    /// The source disk (nil when neither the PVC's PV nor a PV of the content's volumeHandle exists).
    var disk: Disk?
    /// The snapshot as the domain sees it (nil with `disk`).
    var snapshot: Snapshot?
    /// R12 warnings about the source PVC's request.
    var warnings: [String] = []
    /// Cluster-scoped reads the user may not make, each naming the permission (`cannot get persistentvolumes
    /// at the cluster scope`): the facts they hold (the disk's recorded attributes, the content) are unknown.
    var refusedReads: [String] = []

    /// Loads the content, the source PVC (if it still exists) and the PV: the PVC's, else the PV whose
    /// volumeHandle is the content's source. Contents, PVs and StorageClasses are cluster-scoped: when the
    /// user may not read them the disk is built from the PVC and the VolumeSnapshot's status alone, and
    /// `refusedReads` says what is missing.
    static func load(session: Session, snapshot vs: VolumeSnapshot) async throws -> SourceDisk {
        var s = SourceDisk(volumeSnapshot: vs)
        func note<T>(_ read: ClusterRead<T>) -> T? {
            if let r = read.refusal, !s.refusedReads.contains(r) { s.refusedReads.append(r) }
            return read.value
        }
        if let c = vs.boundContentName { s.content = note(try await session.readContent(c)) ?? nil }
        if let name = vs.sourcePVC {
            s.pvc = try await session.api.getIfExists(.persistentVolumeClaims, namespace: vs.namespace ?? session.namespace, name: name).map(PVC.init)
        }
        if let v = s.pvc?.volumeName {
            s.pv = note(try await session.readPV(v)) ?? nil
        }
        // The PVC may be gone or re-bound; the content's volumeHandle names the disk for sure.
        if let handle = s.content?.volumeHandle, s.pv?.volumeHandle != handle {
            if let pvs = note(try await session.clusterList(.persistentVolumes))?.map(PV.init) {
                if let match = pvs.first(where: { $0.volumeHandle == handle }) { s.pv = match } else if s.pv != nil { s.pv = nil }
            }
        }
        if let q = s.pvc?.requestedStorage, let w = Rules.quantityWarning(q) { s.warnings.append(w) }
        // Without a readable PV the PVC still bound to the disk stands for it.
        let pvReadable = !s.refusedReads.contains { $0.contains("persistentvolumes") }
        guard s.pv != nil || (!pvReadable && s.pvc?.volumeName != nil) else { return s }
        if let scName = s.pv?.storageClassName ?? s.pvc?.storageClassName {
            s.storageClass = note(try await session.readStorageClass(scName)) ?? nil
        }

        // The snapshot's size: its restoreSize, else the content's, else the disk's capacity.
        var gib: Int?
        if let q = vs.restoreSize { gib = try Rules.capacityGiB(q) } else if let b = s.content?.restoreSizeBytes { gib = try Rules.capacityGiB(bytes: b) }
        let disk = try DiskFacts.disk(pvc: s.pvc, pv: s.pv, storageClass: s.storageClass, capacityGiB: gib)
        s.disk = disk
        s.snapshot = Snapshot(id: SnapshotID(s.content?.snapshotHandle ?? "\(vs.namespace ?? "")/\(vs.name)"), name: vs.name, of: disk,
                              status: Rules.snapshotStatus(vs), createdAt: Timestamp(timeIntervalSince1970:
                                  (vs.creationTime ?? vs.creationTimestamp)?.timeIntervalSince1970 ?? 0))
        return s
    }
}
