// Names Everest uses (EVEREST.md "Names that Everest uses"), in one place.

/// The well-known names of the Everest CSI add-on: driver, classes, annotation and label keys.
public enum EverestNames {
    /// The CSI driver name of Everest's EVS disk driver.
    public static let driverName = "disk.csi.everest.io"
    /// The provisioner name CCE writes in its StorageClasses (with `csiDriverNameParameter`).
    public static let cceProvisioner = "everest-csi-provisioner"
    /// StorageClass with `volumeBindingMode: Immediate`.
    public static let storageClass = "csi-disk"
    /// StorageClass with `volumeBindingMode: WaitForFirstConsumer`.
    public static let topologyStorageClass = "csi-disk-topology"
    /// The default VolumeSnapshotClass (R2).
    public static let snapshotClass = "csi-disk-snapclass"
    /// FlexVolume StorageClasses whose PVCs are not "CSI storage format" (R3).
    public static let flexVolumeClasses: Set<String> = ["ssd", "sas", "sata"]
    /// The snapshot API group (R2, R10).
    public static let snapshotGroup = "snapshot.storage.k8s.io"
    /// Snapshot API versions, most preferred first (R2).
    public static let snapshotVersions = ["v1", "v1beta1"]

    /// Prefix of Everest's own parameter and annotation keys.
    public static let everestPrefix = "everest.io/"
    /// Disk volume type: SAS, SSD, GPSSD, ESSD, GPSSD2 (SATA on old disks).
    public static let diskVolumeType = "everest.io/disk-volume-type"
    /// `"true"` means SCSI disk mode; otherwise VBD.
    public static let passthrough = "everest.io/passthrough"
    /// KMS key id; its presence means the disk is encrypted (R6).
    public static let cryptKeyID = "everest.io/crypt-key-id"
    /// Disk tags.
    public static let diskVolumeTags = "everest.io/disk-volume-tags"
    /// Provisioned IOPS (GPSSD2 only, required there).
    public static let diskIOPS = "everest.io/disk-iops"
    /// Provisioned throughput in MiB/s (GPSSD2 only, required there).
    public static let diskThroughput = "everest.io/disk-throughput"
    /// The parameters a disk's owner may change after creation (ControllerModifyVolume, a
    /// VolumeAttributesClass): GPSSD2's provisioned performance. Everything else is fixed at creation.
    public static let mutableParameterKeys = [diskIOPS, diskThroughput]
    /// PV attribute of static PVs: `SCSI` or `VBD`.
    public static let diskMode = "everest.io/disk-mode"
    /// Sharing of the disk (`"true"` = shared). Not in the seed page; Everest's static-PV attribute.
    public static let diskShared = "everest.io/disk-shared"
    /// File system type (ext4 default, xfs).
    public static let fsType = "csi.storage.k8s.io/fstype"
    /// The parameter CCE's classes carry; the standard external-provisioner refuses it (EVEREST.md).
    public static let csiDriverNameParameter = "csi.storage.k8s.io/csi-driver-name"
    /// PVC name passed by external-provisioner `--extra-create-metadata`.
    public static let pvcNameParameter = "csi.storage.k8s.io/pvc/name"
    /// PVC namespace passed by external-provisioner `--extra-create-metadata`.
    public static let pvcNamespaceParameter = "csi.storage.k8s.io/pvc/namespace"
    /// PV name passed by external-provisioner `--extra-create-metadata`.
    public static let pvNameParameter = "csi.storage.k8s.io/pv/name"

    /// Region label on the PVC (R9, R10).
    public static let regionLabel = "failure-domain.beta.kubernetes.io/region"
    /// Zone label on the PVC (R9, R10).
    public static let zoneLabel = "failure-domain.beta.kubernetes.io/zone"

    /// Reserved EVS snapshot name prefix (R14).
    public static let reservedSnapshotPrefix = "autobk_snapshot_"
    /// Longest CSI name accepted (R14).
    public static let maxNameLength = 128
    /// Smallest and largest EVS disk, in GiB (R12).
    public static let minCapacityGiB = 1
    /// Largest EVS disk, in GiB (R12).
    public static let maxCapacityGiB = 32768
}
