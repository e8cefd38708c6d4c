// Disks: create (empty or restored from a snapshot), delete, expand. Crash safety: see EVSEmulator.swift.
import EVSSnapshotRules
import SQLiteDB
import Glibc

extension EVSEmulator {
    // MARK: Disks

    public func createDisk(name: String, spec: DiskSpec, source: SnapshotID?) throws(BackendError) -> Disk {
        try createDiskReportingMethod(name: name, spec: spec, source: source).disk
    }

    /// `createDisk`, also telling how a restore's data was copied (nil for an empty disk or an existing one).
    public func createDiskReportingMethod(name: String, spec: DiskSpec, source: SnapshotID?)
        throws(BackendError) -> (disk: Disk, method: DataCopyMethod?) {
        try rule { () throws(EverestRuleViolation) in
            try EverestRules.checkName(name)                                                       // R14
            if source == nil { try EverestRules.checkCapacity(gib: spec.capacityGiB) }              // R12
        }
        enum Plan { case existing(Disk), create(Disk) }
        let plan: Plan = try write { db in
            if let (existing, existingSource) = try MetadataStore.disk(named: name, in: db) {
                if existing.status == .creating || existing.status == .deleting {
                    throw EverestRuleViolation.operationInFlight(key: name)
                }
                try Self.checkCompatible(existing, source: existingSource, with: spec, requestedSource: source)
                return .existing(existing)
            }
            let id = DiskID(Self.newID())
            let disk: Disk
            if let source {
                guard let snapshot = try MetadataStore.snapshot(id: source, in: db) else {
                    throw BackendError.notFound(kind: "snapshot", id: source.rawValue)
                }
                // R14, R11, R12, R8, R9 in the order the plugin applies them; R6/R9 decide encryption and zone.
                let plan = try EverestRules.checkRestore(spec.restoreRequest(name: name), snapshot: snapshot,
                                                         settings: self.configuration.rules)
                disk = Disk(id: id, name: name, capacityGiB: plan.capacityGiB, type: plan.type, mode: plan.mode,
                            encryption: plan.encryption, sharing: plan.sharing, topology: plan.topology,
                            status: .creating, fsType: plan.fsType,
                            iops: plan.type.requiresProvisionedPerformance ? spec.iops : nil,
                            throughput: plan.type.requiresProvisionedPerformance ? spec.throughput : nil)
            } else {
                let type = spec.type ?? .sas
                if !type.isCreatable { throw EverestRuleViolation.typeNotCreatable(type) }
                disk = Disk(id: id, name: name, capacityGiB: spec.capacityGiB, type: type, mode: spec.mode ?? .vbd,
                            encryption: spec.encryption ?? .plain, sharing: spec.sharing ?? .nonShared,
                            topology: try spec.topology(offered: self.configuration.topologies), status: .creating,
                            fsType: spec.fsType ?? .ext4,
                            iops: type.requiresProvisionedPerformance ? spec.iops : nil,
                            throughput: type.requiresProvisionedPerformance ? spec.throughput : nil)
            }
            try MetadataStore.insert(disk, sourceSnapshot: source, in: db)
            return .create(disk)
        }
        guard case .create(var disk) = plan else {
            if case .existing(let disk) = plan { return (disk, nil) }
            fatalError("unreachable")
        }
        let path = diskImagePath(disk.id)
        let bytes = Int64(disk.capacityGiB) * Self.gib
        var method: DataCopyMethod?
        do {
            if let source {
                method = try DataFiles.cloneFile(from: snapshotImagePath(source), to: path, growTo: bytes,
                                                 allowReflink: configuration.useReflink,
                                                 durable: configuration.durableWrites)
            } else {
                try DataFiles.createSparse(at: path, bytes: bytes, durable: configuration.durableWrites)
            }
        } catch {
            // Roll back the intent so that a retry starts afresh; the data file was never published.
            try? write { db in try MetadataStore.deleteDiskRow(disk.id, in: db) }
            throw Self.convert(error)
        }
        try write { db in try MetadataStore.setStatus(.available, disk: disk.id, in: db) }
        disk.status = .available
        return (disk, method)
    }

    /// Same name: same source, capacity, stated attributes and an allowed zone, or `alreadyExists`.
    private static func checkCompatible(_ disk: Disk, source: SnapshotID?, with spec: DiskSpec,
                                        requestedSource: SnapshotID?) throws(BackendError) {
        var differences: [String] = []
        if source != requestedSource {
            differences.append("source \(source?.rawValue ?? "none") != \(requestedSource?.rawValue ?? "none")")
        }
        if disk.capacityGiB != spec.capacityGiB {
            differences.append("capacity \(disk.capacityGiB)GiB != \(spec.capacityGiB)GiB")
        }
        // A new disk's unstated attribute means the default; a restore's means the source's (= the disk's).
        let restore = requestedSource != nil
        let type = spec.type ?? (restore ? disk.type : .sas)
        let mode = spec.mode ?? (restore ? disk.mode : .vbd)
        let encryption = spec.encryption ?? (restore ? disk.encryption : .plain)
        let sharing = spec.sharing ?? (restore ? disk.sharing : .nonShared)
        if type != disk.type { differences.append("type \(disk.type) != \(type)") }
        if mode != disk.mode { differences.append("mode \(disk.mode) != \(mode)") }
        if encryption != disk.encryption { differences.append("encryption \(disk.encryption) != \(encryption)") }
        if sharing != disk.sharing { differences.append("sharing \(disk.sharing) != \(sharing)") }
        if let fsType = spec.fsType, fsType != disk.fsType {
            differences.append("fstype \(disk.fsType) != \(fsType)")
        }
        if !spec.allowedZones.isEmpty && !spec.allowedZones.contains(disk.topology.zone) {
            differences.append("zone \(disk.topology.zone) not in [\(spec.allowedZones.joined(separator: ", "))]")
        }
        if !differences.isEmpty {
            throw .alreadyExists(name: disk.name, detail: "disk \(disk.id) differs: " + differences.joined(separator: "; "))
        }
    }

    public func deleteDisk(_ id: DiskID) throws(BackendError) {
        let proceed: Bool = try write { db in
            guard let (disk, _) = try MetadataStore.disk(id: id, in: db) else { return false }  // idempotent
            switch disk.status {
            case .deleting: return true  // finish an interrupted delete
            case .creating, .extending, .attaching, .detaching:
                throw EverestRuleViolation.operationInFlight(key: id.rawValue)
            default: break
            }
            try EverestRules.checkDiskDeletable(id, snapshotCount: try MetadataStore.snapshotCount(of: id, in: db)) // R13
            let nodes = try MetadataStore.attachedNodes(of: id, in: db)
            if !nodes.isEmpty {
                throw EverestRuleViolation.diskAttached(disk: id, nodes: nodes)  // R13
            }
            try MetadataStore.setStatus(.deleting, disk: id, in: db)
            return true
        }
        guard proceed else { return }
        do {
            try DataFiles.remove(diskImagePath(id) + DataFiles.temporarySuffix, durable: false)
            try DataFiles.remove(diskImagePath(id), durable: configuration.durableWrites)
        } catch {
            throw .storage(error.description)  // stays `deleting`; a retry or reconcile finishes it
        }
        try write { db in try MetadataStore.deleteDiskRow(id, in: db) }
    }

    // MARK: Expand

    public func expand(disk id: DiskID, newCapacityGiB: Int) throws(BackendError) -> Disk {
        try rule { () throws(EverestRuleViolation) in try EverestRules.checkCapacity(gib: newCapacityGiB) }  // R12
        let unchanged: Disk? = try write { db in
            guard let (disk, _) = try MetadataStore.disk(id: id, in: db) else {
                throw BackendError.notFound(kind: "disk", id: id.rawValue)
            }
            if newCapacityGiB <= disk.capacityGiB { return disk }  // grow only; idempotent
            switch disk.status {
            case .available, .inUse: break
            case .error: throw BackendError.busy("disk \(id) is in status error and cannot be extended")
            default: throw EverestRuleViolation.operationInFlight(key: id.rawValue)
            }
            if try MetadataStore.creatingSnapshotCount(of: id, in: db) > 0 {
                throw EverestRuleViolation.operationInFlight(key: id.rawValue)  // a snapshot is copying the file
            }
            try MetadataStore.setStatus(.extending, disk: id, in: db)
            return nil
        }
        if let unchanged { return unchanged }
        var growError: BackendError?
        do {
            try DataFiles.grow(diskImagePath(id), to: Int64(newCapacityGiB) * Self.gib, durable: configuration.durableWrites)
        } catch {
            growError = Self.convert(error)
        }
        let disk: Disk = try write { db in
            guard let (disk, _) = try MetadataStore.disk(id: id, in: db) else {
                throw BackendError.notFound(kind: "disk", id: id.rawValue)
            }
            let attached = try !MetadataStore.attachedNodes(of: id, in: db).isEmpty
            let gib = growError == nil ? newCapacityGiB : disk.capacityGiB
            try MetadataStore.setCapacity(gib, status: attached ? .inUse : .available, disk: id, in: db)
            return try MetadataStore.disk(id: id, in: db)!.disk
        }
        if let growError { throw growError }
        return disk
    }
}

extension EVSEmulator {
    // MARK: Provisioned performance

    /// EVS's ModifyVolumeQoS on the metadata: one write transaction, so the new values are durable when it
    /// returns (the emulator keeps no data that depends on them).
    public func modifyPerformance(disk id: DiskID, change: PerformanceChange) throws(BackendError) -> Disk {
        try write { db in
            guard let (disk, _) = try MetadataStore.disk(id: id, in: db) else {
                throw BackendError.notFound(kind: "disk", id: id.rawValue)
            }
            if change.isSatisfied(by: disk) { return disk }  // idempotent (also the empty change)
            try EverestRules.checkPerformanceChange(change, on: disk)
            switch disk.status {
            case .available, .inUse: break
            case .error: throw BackendError.busy("disk \(id) is in status error and its iops and throughput cannot be changed")
            default: throw EverestRuleViolation.operationInFlight(key: id.rawValue)
            }
            try MetadataStore.setPerformance(iops: change.iops ?? disk.iops, throughput: change.throughput ?? disk.throughput,
                                             disk: id, in: db)
            return try MetadataStore.disk(id: id, in: db)!.disk
        }
    }
}
