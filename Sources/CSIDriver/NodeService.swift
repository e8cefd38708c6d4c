import CSIMessages
import EVSEmulator
import EVSSnapshotRules
import Logging
import NodeOps

/// The CSI Node service: a disk image attached to a loop device, a file system made only when the disk is
/// blank, mounted at the staging path and bind-mounted into pods (NodeOps does the work and undoes it on
/// failure). Trust boundary: the disk image comes only from the validated volume id and the driver's own
/// state directory (`<state>/disks/<id>.img`, the emulator's layout); the publish context may only confirm
/// it. Staging and target paths must be absolute and normalized.
public struct NodeService: Sendable {
    let nodeID: String
    let zone: String
    let maxVolumesPerNode: Int
    let backend: EVSEmulator?
    let stateDirectory: String
    let operations: NodeOperations
    let inFlight: InFlight

    /// `backend` is nil when this process serves only the Node service; `stateDirectory` (default: the
    /// backend's) is where the disk images are.
    public init(nodeID: String, zone: String, maxVolumesPerNode: Int, backend: EVSEmulator?, stateDirectory: String? = nil,
                operations: NodeOperations = NodeOperations(), inFlight: InFlight = InFlight()) {
        self.nodeID = nodeID; self.zone = zone; self.maxVolumesPerNode = maxVolumesPerNode
        self.backend = backend; self.operations = operations; self.inFlight = inFlight
        self.stateDirectory = stateDirectory ?? backend?.configuration.stateDirectory ?? ""
    }

    static func register(on endpoint: CSIEndpoint, configuration: DriverConfiguration, backend: EVSEmulator?, logger: Logger) {
        let node = NodeService(nodeID: configuration.nodeID, zone: configuration.topologies[0].zone,
                               maxVolumesPerNode: configuration.maxVolumesPerNode, backend: backend,
                               stateDirectory: configuration.stateDirectory)
        endpoint.route(.nodeGetInfo) { (r: CSI.NodeGetInfoRequest, _) in node.getInfo(r) }
        endpoint.route(.nodeGetCapabilities) { (r: CSI.NodeGetCapabilitiesRequest, _) in node.getCapabilities(r) }
        endpoint.route(.nodeStageVolume) { (r: CSI.NodeStageVolumeRequest, _) in try node.stage(r) }
        endpoint.route(.nodeUnstageVolume) { (r: CSI.NodeUnstageVolumeRequest, _) in try node.unstage(r) }
        endpoint.route(.nodePublishVolume) { (r: CSI.NodePublishVolumeRequest, _) in try node.publish(r) }
        endpoint.route(.nodeUnpublishVolume) { (r: CSI.NodeUnpublishVolumeRequest, _) in try node.unpublish(r) }
        endpoint.route(.nodeGetVolumeStats) { (r: CSI.NodeGetVolumeStatsRequest, _) in try node.volumeStats(r) }
        endpoint.route(.nodeExpandVolume) { (r: CSI.NodeExpandVolumeRequest, _) in try node.expand(r) }
    }

    /// NodeGetInfo: node id, EVS's attach limit, and the node's zone.
    public func getInfo(_ request: CSI.NodeGetInfoRequest) -> CSI.NodeGetInfoResponse {
        CSI.NodeGetInfoResponse(
            nodeId: nodeID, maxVolumesPerNode: Int64(maxVolumesPerNode),
            accessibleTopology: CSI.Topology(segments: [DriverConfiguration.zoneTopologyKey: zone]))
    }

    /// NodeGetCapabilities.
    public func getCapabilities(_ request: CSI.NodeGetCapabilitiesRequest) -> CSI.NodeGetCapabilitiesResponse {
        let kinds: [CSI.NodeServiceCapability.RPC.Kind] = [
            .stageUnstageVolume, .getVolumeStats, .expandVolume, .volumeCondition, .singleNodeMultiWriter,
        ]
        return CSI.NodeGetCapabilitiesResponse(capabilities: kinds.map { CSI.NodeServiceCapability(type: .rpc(.init(type: $0))) })
    }

    /// NodeStageVolume: loop device, file system only on a blank disk, mount at the staging path.
    public func stage(_ request: CSI.NodeStageVolumeRequest) throws -> CSI.NodeStageVolumeResponse {
        let id = try RequestValidation.diskID(request.volumeId, "NodeStageVolumeRequest.volume_id")
        let stagingPath = try RequestValidation.nodePath(request.stagingTargetPath, "NodeStageVolumeRequest.staging_target_path")
        guard let capability = request.volumeCapability else {
            throw DriverError.missingField("NodeStageVolumeRequest.volume_capability")
        }
        let access = try volumeAccess(capability, context: request.volumeContext, field: "volume_capability")
        let image = try imagePath(id, publishContext: request.publishContext)
        _ = try inFlight.run(["volume:\(request.volumeId)"]) {
            try operations.stage(image: image, stagingPath: stagingPath, access: access,
                                 readOnly: request.publishContext[PublishContextKey.readOnly] == "true")
        }
        return CSI.NodeStageVolumeResponse()
    }

    /// NodeUnstageVolume: unmount and detach; idempotent.
    public func unstage(_ request: CSI.NodeUnstageVolumeRequest) throws -> CSI.NodeUnstageVolumeResponse {
        try RequestValidation.require(request.volumeId, "NodeUnstageVolumeRequest.volume_id")
        let stagingPath = try RequestValidation.nodePath(request.stagingTargetPath, "NodeUnstageVolumeRequest.staging_target_path")
        try inFlight.run(["volume:\(request.volumeId)"]) {
            try operations.unstage(stagingPath: stagingPath)
        }
        return CSI.NodeUnstageVolumeResponse()
    }

    /// NodePublishVolume: bind mount from staging to the target (read-only when asked); block: the device node
    /// bound onto a target file.
    public func publish(_ request: CSI.NodePublishVolumeRequest) throws -> CSI.NodePublishVolumeResponse {
        let id = try RequestValidation.diskID(request.volumeId, "NodePublishVolumeRequest.volume_id")
        let stagingPath = try RequestValidation.nodePath(request.stagingTargetPath, "NodePublishVolumeRequest.staging_target_path")
        let targetPath = try RequestValidation.nodePath(request.targetPath, "NodePublishVolumeRequest.target_path")
        guard let capability = request.volumeCapability else {
            throw DriverError.missingField("NodePublishVolumeRequest.volume_capability")
        }
        let access = try volumeAccess(capability, context: request.volumeContext, field: "volume_capability")
        let image = try imagePath(id, publishContext: request.publishContext)
        try inFlight.run(["volume:\(request.volumeId)", "target:\(targetPath)"]) {
            // The staging path must hold this volume, or the pod would get another volume's data under this name.
            if case .image(let staged) = try StagedImage.at(stagingPath), staged != StagedImage.canonical(image) {
                throw DriverError.conflict(
                    "staging path \(stagingPath) holds \(staged), not volume \(request.volumeId) (\(image))")
            }
            try operations.publish(stagingPath: stagingPath, targetPath: targetPath,
                                   readOnly: request.readonly, access: access)
        }
        return CSI.NodePublishVolumeResponse()
    }

    /// NodeUnpublishVolume: unmount and remove the target; idempotent.
    public func unpublish(_ request: CSI.NodeUnpublishVolumeRequest) throws -> CSI.NodeUnpublishVolumeResponse {
        try RequestValidation.require(request.volumeId, "NodeUnpublishVolumeRequest.volume_id")
        let targetPath = try RequestValidation.nodePath(request.targetPath, "NodeUnpublishVolumeRequest.target_path")
        try inFlight.run(["target:\(targetPath)"]) {
            try operations.unpublish(targetPath: targetPath)
        }
        return CSI.NodeUnpublishVolumeResponse()
    }

    /// NodeGetVolumeStats: bytes and inodes of a mounted volume (size of a block one) and its condition.
    public func volumeStats(_ request: CSI.NodeGetVolumeStatsRequest) throws -> CSI.NodeGetVolumeStatsResponse {
        let id = try RequestValidation.diskID(request.volumeId, "NodeGetVolumeStatsRequest.volume_id")
        let volumePath = try RequestValidation.lookupPath(request.volumePath, "NodeGetVolumeStatsRequest.volume_path",
                                                          volume: request.volumeId)
        let image = try imagePath(id, publishContext: [:], requireImage: false)
        let stats = try operations.volumeStats(path: volumePath)
        let usage: [CSI.VolumeUsage]
        switch stats.usage {
        case .fileSystem(let fs):
            usage = [
                CSI.VolumeUsage(available: fs.availableBytes, total: fs.totalBytes, used: fs.usedBytes, unit: .bytes),
                CSI.VolumeUsage(available: fs.freeInodes, total: fs.totalInodes, used: fs.usedInodes, unit: .inodes),
            ]
        case .block(let size):
            usage = [CSI.VolumeUsage(total: size, unit: .bytes)]
        }
        // VOLUME_CONDITION: what the mount shows, and whether the volume's image is still there and readable.
        var problems = stats.condition.abnormal ? [stats.condition.message] : []
        if let problem = StateLayout.imageProblem(path: image) { problems.append("\(problem) (volume \(id))") }
        return CSI.NodeGetVolumeStatsResponse(
            usage: usage,
            volumeCondition: CSI.VolumeCondition(abnormal: !problems.isEmpty,
                                                 message: problems.isEmpty ? stats.condition.message : problems.joined(separator: "; ")))
    }

    /// NodeExpandVolume: refresh the loop device's size, then grow the file system.
    public func expand(_ request: CSI.NodeExpandVolumeRequest) throws -> CSI.NodeExpandVolumeResponse {
        let id = try RequestValidation.diskID(request.volumeId, "NodeExpandVolumeRequest.volume_id")
        let volumePath = try RequestValidation.lookupPath(request.volumePath, "NodeExpandVolumeRequest.volume_path",
                                                          volume: request.volumeId)
        if !request.stagingTargetPath.isEmpty {
            _ = try RequestValidation.lookupPath(request.stagingTargetPath, "NodeExpandVolumeRequest.staging_target_path",
                                                 volume: request.volumeId)
        }
        // The capacity range is not used (the image already has the controller's size), but it is still checked:
        // a negative or inverted range is INVALID_ARGUMENT, never arithmetic on it.
        if let range = request.capacityRange {
            if range.requiredBytes < 0 || range.limitBytes < 0 || (range.limitBytes > 0 && range.requiredBytes > range.limitBytes) {
                throw DriverError.invalidField(
                    field: "NodeExpandVolumeRequest.capacity_range",
                    reason: "required_bytes \(range.requiredBytes), limit_bytes \(range.limitBytes): bytes must not be negative and the limit not below the requirement")
            }
        }
        let image = try imagePath(id, publishContext: [:])
        // The path must show this volume's image (NodeOperations.expand checks the loop device behind it).
        if case .image(let staged) = try StagedImage.at(volumePath), staged != StagedImage.canonical(image) {
            throw DriverError.conflict("\(volumePath) holds \(staged), not volume \(id) (\(image))")
        }
        let bytes = try inFlight.run(["volume:\(request.volumeId)"]) {
            try operations.expand(image: image, stagingOrTargetPath: volumePath)
        }
        return CSI.NodeExpandVolumeResponse(capacityBytes: bytes)
    }

    // MARK: Helpers

    /// The disk image of volume `id`, from the driver's own state: the emulator's path when it runs in this
    /// process (NOT_FOUND for an unknown disk), else `<state>/disks/<id>.img` (NOT_FOUND when the file is
    /// absent and `requireImage`). A publish context may only confirm it: another device path is
    /// INVALID_ARGUMENT, and is never attached, formatted or mounted.
    func imagePath(_ id: DiskID, publishContext: [String: String], requireImage: Bool = true) throws -> String {
        let image: String
        if let backend {
            guard try backend.getDisk(id) != nil else { throw DriverError.notFound(kind: "volume", id: id.rawValue) }
            image = backend.diskImagePath(id)
        } else {
            guard !stateDirectory.isEmpty, let path = StateLayout.diskImagePath(stateDirectory: stateDirectory, id: id) else {
                throw DriverError.notFound(kind: "volume", id: id.rawValue)
            }
            if requireImage && !StagedImage.exists(path) {
                throw DriverError.notFound(kind: "volume", id: "\(id.rawValue) (no image \(path))")
            }
            image = path
        }
        if let claimed = publishContext[PublishContextKey.devicePath],
           claimed != image, StagedImage.canonical(claimed) != StagedImage.canonical(image) {
            throw DriverError.invalidField(
                field: "publish_context[\(PublishContextKey.devicePath)]",
                reason: "\(EVSIdentifier.quoted(claimed)) is not the image of volume \(id) (\(image)); "
                    + "the node takes a volume's image from its id and its own state, never from a request")
        }
        return image
    }

    /// The NodeOps access for a capability: mount with the capability's fs type (else the volume context's, else
    /// ext4) and flags, or block.
    func volumeAccess(_ capability: CSI.VolumeCapability, context: [String: String], field: String) throws -> VolumeAccess {
        if let problem = RequestValidation.capabilityProblem(capability, field: field, sharing: .shared) {
            throw DriverError.unsupportedCapability(problem)
        }
        switch capability.accessType {
        case .block: return .block
        case .mount(let mount):
            let name = mount.fsType.isEmpty ? (context[EverestNames.fsType] ?? "") : mount.fsType
            return .mount(fsType: try NodeOps.FileSystemType(csiName: name), mountFlags: mount.mountFlags)
        case .none: throw DriverError.missingField("\(field).access_type")
        }
    }
}
