import CSIMessages
import EVSSnapshotRules
import Logging

/// The CSI Controller service over an EVS backend. Idempotency and the Everest rules live in the backend
/// and the domain; this type translates CSI requests, guards concurrent calls on one name or id
/// (ABORTED), and builds CSI responses.
public struct ControllerService: Sendable {
    let backend: any BlockStorageBackend
    let driverName: String
    let annotations: (any PVCAnnotationSource)?
    let inFlight: InFlight
    let logger: Logger

    /// `annotations` reads PVC annotations (nil: StorageClass parameters alone).
    public init(backend: any BlockStorageBackend, driverName: String, annotations: (any PVCAnnotationSource)?,
                inFlight: InFlight = InFlight(), logger: Logger) {
        self.backend = backend
        self.driverName = driverName
        self.annotations = annotations
        self.inFlight = inFlight
        self.logger = logger
    }

    static let gib = RequestValidation.gib

    /// The RPCs this service implements, as ControllerGetCapabilities advertises them.
    /// PUBLISH_READONLY: `ControllerPublishVolumeRequest.readonly` reaches the node through the publish context
    /// (read-only staging); without it the external-attacher never sets the field.
    /// MODIFY_VOLUME: GPSSD2's iops and throughput change in place (EVS ModifyVolumeQoS); CreateVolume takes
    /// them in `mutable_parameters` too (a VolumeAttributesClass).
    static let capabilities: [CSI.ControllerServiceCapability.RPC.Kind] = [
        .createDeleteVolume, .publishUnpublishVolume, .listVolumes, .getCapacity, .createDeleteSnapshot,
        .listSnapshots, .publishReadonly, .expandVolume, .listVolumesPublishedNodes, .volumeCondition, .getVolume,
        .getSnapshot, .singleNodeMultiWriter, .modifyVolume,
    ]

    // MARK: Capabilities

    /// ControllerGetCapabilities.
    public func getCapabilities(_ request: CSI.ControllerGetCapabilitiesRequest) -> CSI.ControllerGetCapabilitiesResponse {
        CSI.ControllerGetCapabilitiesResponse(
            capabilities: Self.capabilities.map { CSI.ControllerServiceCapability(type: .rpc(.init(type: $0))) })
    }

    // MARK: Volumes

    /// CreateVolume: a new disk, or a restore when the content source is a snapshot (R6, R8, R9, R11).
    /// Idempotent by name (the backend returns the existing disk for a compatible request).
    /// `deadline` (the RPC's) bounds the PVC lookup.
    public func createVolume(_ request: CSI.CreateVolumeRequest, deadline: ContinuousClock.Instant? = nil) throws -> CSI.CreateVolumeResponse {
        try RequestValidation.require(request.name, "CreateVolumeRequest.name")
        if request.volumeCapabilities.isEmpty { throw DriverError.missingField("CreateVolumeRequest.volume_capabilities") }

        var snapshotSource: SnapshotID?
        switch request.volumeContentSource?.type {
        case .none: break
        case .snapshot(let source):
            snapshotSource = try RequestValidation.snapshotID(
                source.snapshotId, "CreateVolumeRequest.volume_content_source.snapshot.snapshot_id")
        case .volume(let source):
            try EverestRules.checkNotClone(sourceVolume: source.volumeId)
        }

        // Everest: PVC annotations override StorageClass parameters (EVEREST.md "Where a disk's attributes come from").
        let pvcAnnotations = try annotationsOfPVC(request.parameters, deadline: deadline)
        let requisite = RequestValidation.zones(request.accessibilityRequirements?.requisite ?? [])
        let preferred = RequestValidation.zones(request.accessibilityRequirements?.preferred ?? [])

        return try inFlight.run(["volume-name:\(request.name)"]) {
            var spec: DiskSpec
            if let snapshotSource {
                guard let snapshot = try backend.getSnapshot(snapshotSource) else {
                    throw DriverError.notFound(kind: "snapshot", id: snapshotSource.rawValue)
                }
                let gib = try RequestValidation.capacityGiB(request.capacityRange, defaultGiB: snapshot.sizeGiB)
                // Only what the class and PVC state is compared with the source (R8); the rest is inherited.
                let restore = try DiskAttributes.restoreRequest(
                    parameters: request.parameters, annotations: pvcAnnotations, name: request.name, capacityGiB: gib,
                    allowedZones: requisite)
                spec = DiskSpec(capacityGiB: gib, type: restore.type, mode: restore.mode, encryption: restore.encryption,
                                sharing: restore.sharing, fsType: restore.fsType, allowedZones: requisite,
                                preferredZones: preferred)
                // Performance: what the class and PVC state, then a VolumeAttributesClass on top (checked against
                // the type the restore gets: R8 keeps the source's).
                let stated = try DiskAttributes.statedPerformance(parameters: request.parameters, annotations: pvcAnnotations)
                let change = try EverestRules.checkMutableParameters(
                    request.mutableParameters, diskType: restore.type ?? snapshot.sourceType)
                spec.iops = change.iops ?? stated.iops
                spec.throughput = change.throughput ?? stated.throughput
                try RequestValidation.validateCapabilities(
                    request.volumeCapabilities, field: "volume_capabilities", sharing: restore.sharing ?? snapshot.sourceSharing)
            } else {
                // mutable_parameters (a VolumeAttributesClass) take precedence over the class's parameters (CSI).
                let attributes = try DiskAttributes(parameters: request.parameters, annotations: pvcAnnotations,
                                                    mutableParameters: request.mutableParameters)
                let gib = try RequestValidation.capacityGiB(request.capacityRange, defaultGiB: 1)
                try RequestValidation.validateCapabilities(
                    request.volumeCapabilities, field: "volume_capabilities", sharing: attributes.sharing)
                spec = DiskSpec(capacityGiB: gib, attributes: attributes, allowedZones: requisite, preferredZones: preferred)
            }
            let disk = try backend.createDisk(name: request.name, spec: spec, source: snapshotSource)
            return CSI.CreateVolumeResponse(volume: volume(disk, source: snapshotSource))
        }
    }

    /// DeleteVolume: idempotent; refused while the disk has snapshots or is attached (R13).
    public func deleteVolume(_ request: CSI.DeleteVolumeRequest) throws -> CSI.DeleteVolumeResponse {
        try RequestValidation.require(request.volumeId, "DeleteVolumeRequest.volume_id")
        // A malformed id names no disk: already deleted (CSI: DeleteVolume is idempotent).
        guard let id = DiskID(validating: request.volumeId) else { return CSI.DeleteVolumeResponse() }
        try inFlight.run(["volume:\(request.volumeId)"]) {
            try backend.deleteDisk(id)
        }
        return CSI.DeleteVolumeResponse()
    }

    /// ControllerPublishVolume: attaches the disk to the node (available → in-use). A node that does not exist
    /// is NOT_FOUND; a disk already attached to that node with the other `readonly` mode is ALREADY_EXISTS.
    public func publishVolume(_ request: CSI.ControllerPublishVolumeRequest) throws -> CSI.ControllerPublishVolumeResponse {
        // Missing fields first (INVALID_ARGUMENT), then the id's format (NOT_FOUND), as csi-sanity expects.
        try RequestValidation.require(request.volumeId, "ControllerPublishVolumeRequest.volume_id")
        try RequestValidation.require(request.nodeId, "ControllerPublishVolumeRequest.node_id")
        guard let capability = request.volumeCapability else {
            throw DriverError.missingField("ControllerPublishVolumeRequest.volume_capability")
        }
        let id = try RequestValidation.diskID(request.volumeId, "ControllerPublishVolumeRequest.volume_id")
        return try inFlight.run(["volume:\(request.volumeId)"]) {
            let disk = try existingDisk(id)
            if let problem = RequestValidation.capabilityProblem(capability, field: "volume_capability", sharing: disk.sharing) {
                throw DriverError.unsupportedCapability(problem)
            }
            let attachment = try backend.attach(disk: disk.id, node: request.nodeId, readOnly: request.readonly)
            return CSI.ControllerPublishVolumeResponse(publishContext: [
                PublishContextKey.devicePath: attachment.devicePath, PublishContextKey.readOnly: request.readonly ? "true" : "false",
            ])
        }
    }

    /// ControllerUnpublishVolume: detaches the disk (from every node when node_id is empty). Idempotent.
    public func unpublishVolume(_ request: CSI.ControllerUnpublishVolumeRequest) throws -> CSI.ControllerUnpublishVolumeResponse {
        try RequestValidation.require(request.volumeId, "ControllerUnpublishVolumeRequest.volume_id")
        try inFlight.run(["volume:\(request.volumeId)"]) {
            // A volume already gone is already detached.
            // A malformed id names no disk, and a volume already gone is already detached.
            guard let id = DiskID(validating: request.volumeId), try backend.getDisk(id) != nil else { return }
            try backend.detach(disk: id, node: request.nodeId.isEmpty ? nil : request.nodeId)
        }
        return CSI.ControllerUnpublishVolumeResponse()
    }

    /// ValidateVolumeCapabilities: confirms the capabilities an EVS disk offers.
    public func validateVolumeCapabilities(
        _ request: CSI.ValidateVolumeCapabilitiesRequest
    ) throws -> CSI.ValidateVolumeCapabilitiesResponse {
        let id = try RequestValidation.diskID(request.volumeId, "ValidateVolumeCapabilitiesRequest.volume_id")
        if request.volumeCapabilities.isEmpty {
            throw DriverError.missingField("ValidateVolumeCapabilitiesRequest.volume_capabilities")
        }
        let disk = try existingDisk(id)
        for (index, capability) in request.volumeCapabilities.enumerated() {
            if let problem = RequestValidation.capabilityProblem(
                capability, field: "volume_capabilities[\(index)]", sharing: disk.sharing) {
                return CSI.ValidateVolumeCapabilitiesResponse(confirmed: nil, message: problem)
            }
        }
        return CSI.ValidateVolumeCapabilitiesResponse(
            confirmed: .init(volumeContext: request.volumeContext, volumeCapabilities: request.volumeCapabilities,
                             parameters: request.parameters))
    }

    /// ListVolumes: pages of disks with the nodes they are attached to; a foreign token is ABORTED.
    public func listVolumes(_ request: CSI.ListVolumesRequest) throws -> CSI.ListVolumesResponse {
        if request.maxEntries < 0 {
            throw DriverError.invalidField(field: "ListVolumesRequest.max_entries", reason: "must not be negative (got \(request.maxEntries))")
        }
        let page = try backend.listDisks(maxEntries: Int(request.maxEntries),
                                         startingToken: request.startingToken.isEmpty ? nil : request.startingToken)
        let entries = try page.items.map { disk in
            CSI.ListVolumesResponse.Entry(
                volume: volume(disk, source: nil),
                status: .init(publishedNodeIds: try backend.attachments(of: disk.id).map(\.nodeID),
                              volumeCondition: condition(disk)))
        }
        return CSI.ListVolumesResponse(entries: entries, nextToken: page.nextToken ?? "")
    }

    /// ControllerGetVolume: one disk with its attachments and condition.
    public func getVolume(_ request: CSI.ControllerGetVolumeRequest) throws -> CSI.ControllerGetVolumeResponse {
        let id = try RequestValidation.diskID(request.volumeId, "ControllerGetVolumeRequest.volume_id")
        let disk = try existingDisk(id)
        return CSI.ControllerGetVolumeResponse(
            volume: volume(disk, source: nil),
            status: .init(publishedNodeIds: try backend.attachments(of: disk.id).map(\.nodeID),
                          volumeCondition: condition(disk)))
    }

    /// GetCapacity: free space of the state directory, within EVS's size bounds (R12); zero for a zone
    /// the backend does not offer.
    public func getCapacity(_ request: CSI.GetCapacityRequest, zones: [String]) throws -> CSI.GetCapacityResponse {
        if let topology = request.accessibleTopology,
           let zone = topology.segments[DriverConfiguration.zoneTopologyKey], !zones.contains(zone) {
            return CSI.GetCapacityResponse(availableCapacity: 0)
        }
        let capacity = try backend.capacity()
        return CSI.GetCapacityResponse(
            availableCapacity: capacity.freeBytes,
            maximumVolumeSize: min(capacity.freeBytes, Int64(EverestNames.maxCapacityGiB) * Self.gib),
            minimumVolumeSize: Int64(EverestNames.minCapacityGiB) * Self.gib)
    }

    /// ControllerExpandVolume: grows the disk to whole GiB (never shrinks); the node then grows the file system.
    public func expandVolume(_ request: CSI.ControllerExpandVolumeRequest) throws -> CSI.ControllerExpandVolumeResponse {
        let id = try RequestValidation.diskID(request.volumeId, "ControllerExpandVolumeRequest.volume_id")
        guard request.capacityRange != nil else { throw DriverError.missingField("ControllerExpandVolumeRequest.capacity_range") }
        return try inFlight.run(["volume:\(request.volumeId)"]) {
            let disk = try existingDisk(id)
            let gib = try RequestValidation.capacityGiB(request.capacityRange, defaultGiB: disk.capacityGiB)
            let grown = try backend.expand(disk: disk.id, newCapacityGiB: gib)
            var isBlock = false
            if case .block = request.volumeCapability?.accessType { isBlock = true }
            return CSI.ControllerExpandVolumeResponse(
                capacityBytes: Int64(grown.capacityGiB) * Self.gib, nodeExpansionRequired: !isBlock)
        }
    }

    /// ControllerModifyVolume: changes a GPSSD2 disk's iops and/or throughput (`everest.io/disk-iops`,
    /// `everest.io/disk-throughput`); every other key is INVALID_ARGUMENT (type, mode, encryption and sharing
    /// are fixed at creation, R8). Missing volume id: INVALID_ARGUMENT; unknown or malformed id: NOT_FOUND.
    /// Idempotent; no mutable parameters is a no-op.
    public func modifyVolume(_ request: CSI.ControllerModifyVolumeRequest) throws -> CSI.ControllerModifyVolumeResponse {
        let id = try RequestValidation.diskID(request.volumeId, "ControllerModifyVolumeRequest.volume_id")
        return try inFlight.run(["volume:\(request.volumeId)"]) {
            let disk = try existingDisk(id)
            let change = try EverestRules.checkMutableParameters(request.mutableParameters, diskType: disk.type,
                                                                 disk: disk.id)
            if !change.isEmpty { _ = try backend.modifyPerformance(disk: disk.id, change: change) }
            return CSI.ControllerModifyVolumeResponse()
        }
    }

    // MARK: Snapshots

    /// CreateSnapshot: idempotent by name (another source is ALREADY_EXISTS); R4, R5, R6, R14 in the backend.
    public func createSnapshot(_ request: CSI.CreateSnapshotRequest) throws -> CSI.CreateSnapshotResponse {
        try RequestValidation.require(request.name, "CreateSnapshotRequest.name")
        let source = try RequestValidation.diskID(request.sourceVolumeId, "CreateSnapshotRequest.source_volume_id")
        return try inFlight.run(["snapshot-name:\(request.name)"]) {
            let snapshot = try backend.createSnapshot(name: request.name, sourceDisk: source)
            return CSI.CreateSnapshotResponse(snapshot: csiSnapshot(snapshot))
        }
    }

    /// DeleteSnapshot: idempotent; refused while a restore from it is in progress (R11) or in a state EVS
    /// cannot delete (R13).
    public func deleteSnapshot(_ request: CSI.DeleteSnapshotRequest) throws -> CSI.DeleteSnapshotResponse {
        try RequestValidation.require(request.snapshotId, "DeleteSnapshotRequest.snapshot_id")
        // A malformed id names no snapshot: already deleted (CSI: DeleteSnapshot is idempotent).
        guard let id = SnapshotID(validating: request.snapshotId) else { return CSI.DeleteSnapshotResponse() }
        try inFlight.run(["snapshot:\(request.snapshotId)"]) {
            try backend.deleteSnapshot(id)
        }
        return CSI.DeleteSnapshotResponse()
    }

    /// ListSnapshots: every snapshot matching the filters, in pages; a foreign token is ABORTED.
    public func listSnapshots(_ request: CSI.ListSnapshotsRequest) throws -> CSI.ListSnapshotsResponse {
        if request.maxEntries < 0 {
            throw DriverError.invalidField(field: "ListSnapshotsRequest.max_entries", reason: "must not be negative (got \(request.maxEntries))")
        }
        // A malformed filter id matches nothing (CSI: an unknown id lists no entries).
        let snapshotFilter = request.snapshotId.isEmpty ? nil : SnapshotID(validating: request.snapshotId)
        let sourceFilter = request.sourceVolumeId.isEmpty ? nil : DiskID(validating: request.sourceVolumeId)
        if (!request.snapshotId.isEmpty && snapshotFilter == nil) || (!request.sourceVolumeId.isEmpty && sourceFilter == nil) {
            return CSI.ListSnapshotsResponse(entries: [], nextToken: "")
        }
        let page = try backend.listSnapshots(
            snapshotID: snapshotFilter,
            sourceDiskID: sourceFilter,
            maxEntries: Int(request.maxEntries),
            startingToken: request.startingToken.isEmpty ? nil : request.startingToken)
        return CSI.ListSnapshotsResponse(
            entries: page.items.map { CSI.ListSnapshotsResponse.Entry(snapshot: csiSnapshot($0)) },
            nextToken: page.nextToken ?? "")
    }

    /// GetSnapshot: one snapshot, NOT_FOUND when unknown.
    public func getSnapshot(_ request: CSI.GetSnapshotRequest) throws -> CSI.GetSnapshotResponse {
        let id = try RequestValidation.snapshotID(request.snapshotId, "GetSnapshotRequest.snapshot_id")
        guard let snapshot = try backend.getSnapshot(id) else {
            throw DriverError.notFound(kind: "snapshot", id: request.snapshotId)
        }
        return CSI.GetSnapshotResponse(snapshot: csiSnapshot(snapshot))
    }

    // MARK: Helpers

    private func existingDisk(_ id: DiskID) throws -> Disk {
        guard let disk = try backend.getDisk(id) else { throw DriverError.notFound(kind: "volume", id: id.rawValue) }
        return disk
    }

    /// The PVC's annotations when the request names a PVC and Kubernetes access is configured.
    private func annotationsOfPVC(_ parameters: [String: String], deadline: ContinuousClock.Instant?) throws -> [String: String] {
        guard let annotations, let name = parameters[RequestValidation.pvcName],
              let namespace = parameters[RequestValidation.pvcNamespace] else { return [:] }
        do {
            return try annotations.annotations(namespace: namespace, name: name, deadline: deadline) ?? [:]
        } catch let error as DriverError {
            throw error
        } catch {
            // Without the PVC we cannot honour its annotations; creating with the class alone could make the
            // wrong disk type, so the call fails and the provisioner retries.
            throw BackendError.storage("reading PVC \(namespace)/\(name) for its annotations failed: \(error)")
        }
    }

    func volume(_ disk: Disk, source: SnapshotID?) -> CSI.Volume {
        var context: [String: String] = [
            EverestNames.diskVolumeType: disk.type.rawValue,
            EverestNames.diskMode: disk.mode.rawValue,
            EverestNames.fsType: disk.fsType.rawValue,
            EverestNames.regionLabel: disk.topology.region,
            EverestNames.zoneLabel: disk.topology.zone,
        ]
        if let key = disk.encryption.keyID { context[EverestNames.cryptKeyID] = key }
        if let iops = disk.iops { context[EverestNames.diskIOPS] = String(iops) }
        if let throughput = disk.throughput { context[EverestNames.diskThroughput] = String(throughput) }
        if disk.sharing.isShared { context[EverestNames.diskShared] = "true" }
        return CSI.Volume(
            capacityBytes: Int64(disk.capacityGiB) * Self.gib, volumeId: disk.id.rawValue, volumeContext: context,
            contentSource: source.map { CSI.VolumeContentSource(type: .snapshot(.init(snapshotId: $0.rawValue))) },
            accessibleTopology: [CSI.Topology(segments: [DriverConfiguration.zoneTopologyKey: disk.topology.zone])])
    }

    /// VOLUME_CONDITION: the backend's view of the disk (its status, and for the emulator its image file).
    func condition(_ disk: Disk) -> CSI.VolumeCondition {
        let health = backend.diskHealth(disk)
        return CSI.VolumeCondition(abnormal: !health.isHealthy, message: health.detail)
    }

    func csiSnapshot(_ snapshot: Snapshot) -> CSI.Snapshot {
        let seconds = snapshot.createdAt.timeIntervalSince1970
        let whole = seconds.rounded(.down)
        return CSI.Snapshot(
            sizeBytes: Int64(snapshot.sizeGiB) * Self.gib, snapshotId: snapshot.id.rawValue,
            sourceVolumeId: snapshot.sourceDiskID.rawValue,
            creationTime: CSI.Timestamp(seconds: Int64(whole), nanos: Int32(((seconds - whole) * 1e9).rounded(.down))),
            readyToUse: snapshot.status == .available)
    }
}

/// Keys of the publish context ControllerPublishVolume hands to the node.
public enum PublishContextKey {
    /// The disk image the node attaches to a loop device.
    public static let devicePath = "evssnap.io/device-path"
    /// Whether the attachment is read-only.
    public static let readOnly = "evssnap.io/read-only"
}
