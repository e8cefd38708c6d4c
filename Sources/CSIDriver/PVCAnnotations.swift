/// Where CreateVolume finds a PVC's annotations, so that they override the StorageClass parameters as in
/// Everest (a PVC annotation wins over a StorageClass parameter of the same name, which wins over the
/// default). The external-provisioner only passes the PVC's name and namespace
/// (`--extra-create-metadata`); an implementation reads the PVC from the Kubernetes API.
public protocol PVCAnnotationSource: Sendable {
    /// The annotations of PVC `namespace/name`, or nil when the PVC does not exist. Returns or throws by
    /// `deadline` (the RPC's; nil: the source's own default limit applies).
    func annotations(namespace: String, name: String, deadline: ContinuousClock.Instant?) throws -> [String: String]?
}
