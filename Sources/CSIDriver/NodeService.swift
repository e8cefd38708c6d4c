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
    let operations: any NodeHost
    let inFlight: InFlight

    /// `locator` tells where a disk's data is on this node.
    public init(nodeID: String, zone: String, maxVolumesPerNode: Int, locator: any NodeDiskLocator,
                operations: any NodeHost = NodeOperations(), inFlight: InFlight = InFlight()) {
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
        let stagingPath = try RequestValidation.nodePath(request.stagingTargetPath, "NodeStageVolumeRequest.staging_target_path")
        guard let capability = request.volumeCapability else {
            throw DriverError.missingField("NodeStageVolumeRequest.volume_capability")
        }
        // Missing fields first (INVALID_ARGUMENT), then the id's format (NOT_FOUND), as csi-sanity expects.
        let id = try RequestValidation.diskID(request.volumeId, "NodeStageVolumeRequest.volume_id")
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
        // The volume's image, when the locator can tell it at once: its loop devices that nothing mounts go too (a
        // stage killed between binding the device and mounting it).
        let image = (try? RequestValidation.diskID(request.volumeId, "NodeUnstageVolumeRequest.volume_id"))
            .flatMap { locator.devicePathIfPresent(of: $0) }
        try inFlight.run(["volume:\(request.volumeId)"]) {
            try operations.unstage(stagingPath: stagingPath, image: image)
        }
        return CSI.NodeUnstageVolumeResponse()
    }

    /// NodePublishVolume: bind mount from staging to the target (read-only when asked); block: the device node
    /// bound onto a target file.
    public func publish(_ request: CSI.NodePublishVolumeRequest) throws -> CSI.NodePublishVolumeResponse {
        try RequestValidation.require(request.volumeId, "NodePublishVolumeRequest.volume_id")
        let stagingPath = try RequestValidation.nodePath(request.stagingTargetPath, "NodePublishVolumeRequest.staging_target_path")
        let targetPath = try RequestValidation.nodePath(request.targetPath, "NodePublishVolumeRequest.target_path")
        guard let capability = request.volumeCapability else {
            throw DriverError.missingField("NodePublishVolumeRequest.volume_capability")
        }
        // Missing fields first (INVALID_ARGUMENT), then the id's format (NOT_FOUND), as csi-sanity expects.
        let id = try RequestValidation.diskID(request.volumeId, "NodePublishVolumeRequest.volume_id")
        let access = try volumeAccess(capability, context: request.volumeContext, field: "volume_capability")
        let image = try imagePath(id, publishContext: request.publishContext)
        try inFlight.run(["volume:\(request.volumeId)", "target:\(targetPath)"]) {
            // The staging path must hold this volume, or the pod would get another volume's data under this name.
            // The same file by device and inode numbers: the kernel's path text for a device bound by a plugin in
            // another (since destroyed) mount namespace is not a path here (issue 19).
            let staged = try operations.content(at: stagingPath)
            if case .loop(let device) = staged, !(try staged.serves(image: image)) {
                throw DriverError.conflict(
                    "staging path \(stagingPath) holds \(device), not volume \(request.volumeId) (\(image))")
            }
            // SINGLE_NODE_SINGLE_WRITER: one workload, so one target path (CSI: FAILED_PRECONDITION otherwise).
            if capability.accessMode?.mode == .singleNodeSingleWriter {
                let others = try operations.otherPublications(stagingPath: stagingPath,
                                                              targetPath: targetPath)
                if !others.isEmpty {
                    throw DriverError.conflict(
                        "volume \(request.volumeId) has access mode SINGLE_NODE_SINGLE_WRITER and is already published at "
                            + "\(others.joined(separator: ", ")); it cannot also be published at \(targetPath)")
                }
            }
            try operations.publish(stagingPath: stagingPath, targetPath: targetPath,
                                   readOnly: request.readonly, access: access, image: image)
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
        try RequestValidation.require(request.volumeId, "NodeGetVolumeStatsRequest.volume_id")
        let volumePath = try RequestValidation.lookupPath(request.volumePath, "NodeGetVolumeStatsRequest.volume_path",
                                                          volume: request.volumeId)
        // Missing fields first (INVALID_ARGUMENT), then the id's format (NOT_FOUND), as csi-sanity expects.
        let id = try RequestValidation.diskID(request.volumeId, "NodeGetVolumeStatsRequest.volume_id")
        let image = try locator.devicePath(of: id, published: nil)  // NOT_FOUND for a volume known not to exist
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
        if let image, let problem = StagedImage.dataProblem(image) { problems.append("\(problem) (volume \(id))") }
        return CSI.NodeGetVolumeStatsResponse(
            usage: usage,
            volumeCondition: CSI.VolumeCondition(abnormal: !problems.isEmpty,
                                                 message: problems.isEmpty ? stats.condition.message : problems.joined(separator: "; ")))
    }

    /// NodeExpandVolume: refresh the loop device's size, then grow the file system.
    public func expand(_ request: CSI.NodeExpandVolumeRequest) throws -> CSI.NodeExpandVolumeResponse {
        try RequestValidation.require(request.volumeId, "NodeExpandVolumeRequest.volume_id")
        let volumePath = try RequestValidation.lookupPath(request.volumePath, "NodeExpandVolumeRequest.volume_path",
                                                          volume: request.volumeId)
        // Missing fields first (INVALID_ARGUMENT), then the id's format (NOT_FOUND), as csi-sanity expects.
        let id = try RequestValidation.diskID(request.volumeId, "NodeExpandVolumeRequest.volume_id")
        if !request.stagingTargetPath.isEmpty {
            _ = try RequestValidation.lookupPath(request.stagingTargetPath, "NodeExpandVolumeRequest.staging_target_path",
                                                 volume: request.volumeId)
        }
        // The capacity range is not used (the image already has the controller's size), but it is still checked:
        // a negative or inverted range is INVALID_ARGUMENT, never arithmetic on it.
        if let range = request.capacityRange,
           range.requiredBytes < 0 || range.limitBytes < 0 || (range.limitBytes > 0 && range.requiredBytes > range.limitBytes) {
            throw DriverError.invalidField(
                field: "NodeExpandVolumeRequest.capacity_range",
                reason: "required_bytes \(range.requiredBytes), limit_bytes \(range.limitBytes): bytes must not be negative and the limit not below the requirement")
        }
        // NodeExpandVolume carries no publish context: when the locator cannot tell the path without one, the
        // device staged at the volume path is grown, if the locator recognises it as this volume's.
        let image = try locator.devicePath(of: id, published: nil)
        if image == nil { try checkStagedVolume(request) }
        let bytes = try inFlight.run(["volume:\(request.volumeId)"]) {
            try operations.expand(image: image, stagingOrTargetPath: volumePath)
        }
        return CSI.NodeExpandVolumeResponse(capacityBytes: bytes)
    }

    // MARK: Helpers

    /// Where volume `id`'s data is on this node. Trust boundary (issue 9): the locator's own answer, from the
    /// validated id and the driver's state, wins; a publish context may only confirm it (another device path
    /// is INVALID_ARGUMENT and is never attached, formatted or mounted). Only a locator that cannot tell the
    /// path itself falls back to the published one. NOT_FOUND when the volume is unknown.
    func imagePath(_ id: DiskID, publishContext: [String: String]) throws -> String {
        let published = publishContext[PublishContextKey.devicePath]
        guard let own = try locator.devicePath(of: id, published: nil) else {
            guard let published else {
                throw DriverError.invalidField(
                    field: "publish_context", reason: "\(PublishContextKey.devicePath) is missing (ControllerPublishVolume sets it)")
            }
            return published
        }
        if let published, published != own, StagedImage.canonical(published) != StagedImage.canonical(own) {
            throw DriverError.invalidField(
                field: "publish_context[\(PublishContextKey.devicePath)]",
                reason: "\(EVSIdentifier.quoted(published)) is not the data of volume \(id) (\(own)); "
                    + "the node takes a volume's data from its id and its own state, never from a request")
        }
        return own
    }

    /// The device staged at a NodeExpandVolume request's volume path (else its staging path) must be one the
    /// locator recognises as this volume's (by the kernel's name for its backing file: used only when the locator
    /// cannot tell the volume's path). NOT_FOUND when nothing is staged there.
    func checkStagedVolume(_ request: CSI.NodeExpandVolumeRequest) throws {
        for path in [request.volumePath, request.stagingTargetPath] where !path.isEmpty {
            switch try operations.content(at: path) {
            case .loop(let device):
                var name = device.backingFile
                if device.backingDeleted { name.removeLast(" (deleted)".count) }
                guard locator.isDevicePath(name, of: DiskID(request.volumeId)) else {
                    throw DriverError.conflict("\(path) holds \(device), not volume \(request.volumeId)")
                }
                return
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
