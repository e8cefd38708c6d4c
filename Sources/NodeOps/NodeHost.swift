/// What the CSI Node service asks of the host (loop devices, file systems, mounts). `NodeOperations` does it
/// for real; the fuzz harness (Tests/fuzz/services) and tests substitute a recording double, so requests of
/// every kind can reach the Node service without touching the host.
public protocol NodeHost: Sendable {
    /// See `NodeOperations.stage(image:stagingPath:access:readOnly:)`.
    @discardableResult
    func stage(image: String, stagingPath: String, access: VolumeAccess, readOnly: Bool) throws -> StagedVolume
    /// See `NodeOperations.unstage(stagingPath:image:)`.
    func unstage(stagingPath: String, image: String?) throws
    /// See `NodeOperations.publish(stagingPath:targetPath:readOnly:access:image:)`.
    func publish(stagingPath: String, targetPath: String, readOnly: Bool, access: VolumeAccess, image: String?) throws
    /// See `NodeOperations.otherPublications(stagingPath:targetPath:)` (SINGLE_NODE_SINGLE_WRITER).
    func otherPublications(stagingPath: String, targetPath: String) throws -> [String]
    /// See `NodeOperations.unpublish(targetPath:)`.
    func unpublish(targetPath: String) throws
    /// See `NodeOperations.volumeStats(path:)`.
    func volumeStats(path: String) throws -> VolumeStats
    /// See `NodeOperations.expand(image:stagingOrTargetPath:)`.
    func expand(image: String?, stagingOrTargetPath: String) throws -> Int64
    /// See `NodeOperations.content(at:)`.
    func content(at path: String) throws -> PathContent
}

extension NodeOperations: NodeHost {}

