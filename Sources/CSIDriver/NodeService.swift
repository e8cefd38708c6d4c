import CSIMessages
import EVSSnapshotRules
import Logging
import NodeOps

/// The CSI Node service: a disk image attached to a loop device, a file system made only when the disk is
/// blank, mounted at the staging path and bind-mounted into pods (NodeOps does the work and undoes it on
/// failure). Where a disk's data is on this node (an image file, a block device) comes from the storage's
/// `NodeDiskLocator`, which may take it from the publish context ControllerPublishVolume returned.
public struct NodeService: Sendable {
    let nodeID: String
    let zone: String
    let maxVolumesPerNode: Int
    let locator: any NodeDiskLocator
    let operations: NodeOperations
    let inFlight: InFlight

    /// `locator` tells where a disk's data is on this node.
    public init(nodeID: String, zone: String, maxVolumesPerNode: Int, locator: any NodeDiskLocator,
                operations: NodeOperations = NodeOperations(), inFlight: InFlight = InFlight()) {
        self.nodeID = nodeID; self.zone = zone; self.maxVolumesPerNode = maxVolumesPerNode
        self.locator = locator; self.operations = operations; self.inFlight = inFlight
    }

    static func register(on endpoint: CSIEndpoint, configuration: DriverConfiguration, locator: any NodeDiskLocator) {
        let node = NodeService(nodeID: configuration.nodeID, zone: configuration.topologies[0].zone,
                               maxVolumesPerNode: configuration.maxVolumesPerNode, locator: locator)
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
        try RequestValidation.require(request.volumeId, "NodeStageVolumeRequest.volume_id")
        try RequestValidation.require(request.stagingTargetPath, "NodeStageVolumeRequest.staging_target_path")
        guard let capability = request.volumeCapability else {
            throw DriverError.missingField("NodeStageVolumeRequest.volume_capability")
        }
        let access = try volumeAccess(capability, context: request.volumeContext, field: "volume_capability")
        let image = try imagePath(request.volumeId, publishContext: request.publishContext)
        _ = try inFlight.run(["volume:\(request.volumeId)"]) {
            try operations.stage(image: image, stagingPath: request.stagingTargetPath, access: access,
                                 readOnly: request.publishContext[PublishContextKey.readOnly] == "true")
        }
        return CSI.NodeStageVolumeResponse()
    }

    /// NodeUnstageVolume: unmount and detach; idempotent.
    public func unstage(_ request: CSI.NodeUnstageVolumeRequest) throws -> CSI.NodeUnstageVolumeResponse {
        try RequestValidation.require(request.volumeId, "NodeUnstageVolumeRequest.volume_id")
        try RequestValidation.require(request.stagingTargetPath, "NodeUnstageVolumeRequest.staging_target_path")
        try inFlight.run(["volume:\(request.volumeId)"]) {
            try operations.unstage(stagingPath: request.stagingTargetPath)
        }
        return CSI.NodeUnstageVolumeResponse()
    }

    /// NodePublishVolume: bind mount from staging to the target (read-only when asked); block: the device node
    /// bound onto a target file.
    public func publish(_ request: CSI.NodePublishVolumeRequest) throws -> CSI.NodePublishVolumeResponse {
        try RequestValidation.require(request.volumeId, "NodePublishVolumeRequest.volume_id")
        try RequestValidation.require(request.stagingTargetPath, "NodePublishVolumeRequest.staging_target_path")
        try RequestValidation.require(request.targetPath, "NodePublishVolumeRequest.target_path")
        guard let capability = request.volumeCapability else {
            throw DriverError.missingField("NodePublishVolumeRequest.volume_capability")
        }
        let access = try volumeAccess(capability, context: request.volumeContext, field: "volume_capability")
        let image = try imagePath(request.volumeId, publishContext: request.publishContext)
        try inFlight.run(["volume:\(request.volumeId)", "target:\(request.targetPath)"]) {
            // The staging path must hold this volume, or the pod would get another volume's data under this name.
            if case .image(let staged) = try StagedImage.at(request.stagingTargetPath), staged != StagedImage.canonical(image) {
                throw DriverError.conflict(
                    "staging path \(request.stagingTargetPath) holds \(staged), not volume \(request.volumeId) (\(image))")
            }
            try operations.publish(stagingPath: request.stagingTargetPath, targetPath: request.targetPath,
                                   readOnly: request.readonly, access: access)
        }
        return CSI.NodePublishVolumeResponse()
    }

    /// NodeUnpublishVolume: unmount and remove the target; idempotent.
    public func unpublish(_ request: CSI.NodeUnpublishVolumeRequest) throws -> CSI.NodeUnpublishVolumeResponse {
        try RequestValidation.require(request.volumeId, "NodeUnpublishVolumeRequest.volume_id")
        try RequestValidation.require(request.targetPath, "NodeUnpublishVolumeRequest.target_path")
        try inFlight.run(["target:\(request.targetPath)"]) {
            try operations.unpublish(targetPath: request.targetPath)
        }
        return CSI.NodeUnpublishVolumeResponse()
    }

    /// NodeGetVolumeStats: bytes and inodes of a mounted volume (size of a block one) and its condition.
    public func volumeStats(_ request: CSI.NodeGetVolumeStatsRequest) throws -> CSI.NodeGetVolumeStatsResponse {
        try RequestValidation.require(request.volumeId, "NodeGetVolumeStatsRequest.volume_id")
        try RequestValidation.require(request.volumePath, "NodeGetVolumeStatsRequest.volume_path")
        try requireKnownVolume(request.volumeId)
        let stats = try operations.volumeStats(path: request.volumePath)
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
        return CSI.NodeGetVolumeStatsResponse(
            usage: usage,
            volumeCondition: CSI.VolumeCondition(abnormal: stats.condition.abnormal, message: stats.condition.message))
    }

    /// NodeExpandVolume: refresh the loop device's size, then grow the file system.
    public func expand(_ request: CSI.NodeExpandVolumeRequest) throws -> CSI.NodeExpandVolumeResponse {
        try RequestValidation.require(request.volumeId, "NodeExpandVolumeRequest.volume_id")
        try RequestValidation.require(request.volumePath, "NodeExpandVolumeRequest.volume_path")
        // NodeExpandVolume carries no publish context: when the locator cannot tell the path without one, the
        // image staged at the volume path is used, if it is this volume's.
        let image = try locator.devicePath(of: DiskID(request.volumeId), published: nil) ?? stagedImage(request)
        let bytes = try inFlight.run(["volume:\(request.volumeId)"]) {
            try operations.expand(image: image, stagingOrTargetPath: request.volumePath)
        }
        return CSI.NodeExpandVolumeResponse(capacityBytes: bytes)
    }

    // MARK: Helpers

    /// Where `volumeID`'s data is on this node, as the locator says (from the publish context or itself);
    /// NOT_FOUND when the volume is unknown.
    func imagePath(_ volumeID: String, publishContext: [String: String]) throws -> String {
        guard let path = try locator.devicePath(of: DiskID(volumeID), published: publishContext[PublishContextKey.devicePath]) else {
            throw DriverError.invalidField(
                field: "publish_context", reason: "\(PublishContextKey.devicePath) is missing (ControllerPublishVolume sets it)")
        }
        return path
    }

    /// The image staged at a NodeExpandVolume request's volume path (else its staging path); the locator must
    /// recognise it as this volume's. NOT_FOUND when nothing is staged there.
    func stagedImage(_ request: CSI.NodeExpandVolumeRequest) throws -> String {
        for path in [request.volumePath, request.stagingTargetPath] where !path.isEmpty {
            switch try StagedImage.at(path) {
            case .image(let image):
                guard locator.isDevicePath(image, of: DiskID(request.volumeId)) else {
                    throw DriverError.conflict("\(path) holds \(image), not volume \(request.volumeId)")
                }
                return image
            case .other(let what):
                throw DriverError.conflict("\(path) holds \(what), not a staged disk of volume \(request.volumeId)")
            case .nothing:
                continue
            }
        }
        throw DriverError.notFound(kind: "staged volume", id: "\(request.volumeId) at \(request.volumePath)")
    }

    /// NOT_FOUND when the locator knows the volume does not exist.
    func requireKnownVolume(_ volumeID: String) throws {
        _ = try locator.devicePath(of: DiskID(volumeID), published: nil)
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
