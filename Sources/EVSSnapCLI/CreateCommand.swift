import ArgumentParser
import Foundation
import JSONCore
import KubeClient

/// `kubectl evssnap create PVC`: preflight R1-R5 and R14, then create the VolumeSnapshot.
struct CreateCommand: EVSSnapCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Snapshot the EVS disk of a PVC, after checking rules R1-R5 and R14.",
        usage: "kubectl evssnap create PVC [--name NAME] [--class CLASS] [--wait] [--timeout 5m] [--dry-run=client|server] [-o yaml|json|name] [flags]",
        discussion: """
            Checks the cluster version (R1), the Everest CSI driver, the snapshot API and the class (R2), that \
            the PVC is bound to a PV of the Everest CSI driver (R3), the disk state (R4), the per-disk quota \
            counted from the snapshots that already exist for that disk (R5) and the snapshot name (R14), then \
            creates the VolumeSnapshot. Nothing is created when a rule refuses.

            The default name is PVC-snap-YYYYMMDD-HHMMSS (UTC time of the request), e.g. \
            data-ssd-snap-20261127-210501; the PVC part is shortened so the name stays within 63 characters.

            \(rbacHelp)

            Examples:
              kubectl evssnap create data-ssd -n apps
              kubectl evssnap create data-ssd --name before-upgrade --wait --timeout 10m
              kubectl evssnap create data-ssd --dry-run=server -o yaml

            \(exitCodeHelp)
            """
    )

    @Argument(help: "The PVC whose disk to snapshot.")
    var pvc: String

    @Option(help: "Name of the VolumeSnapshot (default: PVC-snap-YYYYMMDD-HHMMSS).")
    var name: String?

    @Option(name: .customLong("class"), help: "VolumeSnapshotClass to use (default: the driver's published default, else csi-disk-snapclass).")
    var snapshotClass: String?

    @Flag(help: "Wait until the snapshot is ready to use, or failed.")
    var wait = false

    @Option(help: "How long --wait waits (0 = forever).")
    var timeout = KubeDuration(seconds: 300)

    @Option(name: .customLong("dry-run"), help: "client: check the rules and print the object; server: also have the server validate it.")
    var dryRun: DryRun = .none

    @Option(name: [.customShort("o"), .long], help: "Output format: yaml, json or name.")
    var output: WriteOutputFormat?

    @OptionGroup var kube: KubeOptions

    func validate() throws {
        if wait && dryRun != .none { throw ValidationError("--wait cannot be used with --dry-run") }
    }

    static func defaultName(pvc: String, at date: Date) -> String { CreateCommandNames.defaultName(pvc: pvc, at: date) }

    func execute(in env: CommandEnvironment) async throws {
        let session = try await Session.open(kube, env: env)
        let snapName = name ?? CreateCommand.defaultName(pvc: pvc, at: env.now())
        let preflight = Preflight(session: session)

        // R1, R2: the cluster can take snapshots with this class.
        for outcome in try await preflight.clusterChecks(snapshotClass: snapshotClass) { try outcome.enforce(env.console) }
        // R14 (the name), then R4, R3, R4, R5 (+ R12 warning): the domain's one order (EverestRules.createSnapshotChecks).
        try Rules.snapshotName(snapName).require()
        let target = try await preflight.pvcChecks(pvc: pvc)
        for w in target.warnings { env.console.warn(w) }
        for outcome in target.outcomes { try outcome.enforce(env.console) }

        let vsType = try await session.volumeSnapshots()
        let object: JSON = [
            "apiVersion": .string(vsType.groupVersion),
            "kind": "VolumeSnapshot",
            "metadata": ["name": .string(snapName), "namespace": .string(session.namespace)],
            "spec": [
                "source": ["persistentVolumeClaimName": .string(pvc)],
                "volumeSnapshotClassName": .string(snapshotClass ?? Rules.settings.defaultSnapshotClass),
            ],
        ]
        let created: JSON
        if dryRun == .client {
            created = object
        } else {
            created = try await session.api.create(vsType, namespace: session.namespace, object: object, dryRun: dryRun)
        }
        if let output {
            env.console.out.write(ObjectPrinter.render(created, type: vsType, format: output))
        } else {
            env.console.print(ObjectPrinter.created(vsType, snapName, dryRun: dryRun))
        }
        if wait {
            try await CreateCommand.waitReady(session: session, name: snapName, timeout: timeout)
        }
    }

    /// Polls the VolumeSnapshot (and its content) until readyToUse, or throws with the error text of either.
    static func waitReady(session: Session, name: String, timeout: KubeDuration) async throws {
        let vsType = try await session.volumeSnapshots()
        let _: Bool = try await session.poll(timeout: timeout, what: "volumesnapshot/\(name) to be ready") {
            let s = VolumeSnapshot(try await session.api.get(vsType, namespace: session.namespace, name: name))
            var content: VolumeSnapshotContent?
            if let c = s.boundContentName { content = try await session.content(c) }
            if s.readyToUse {
                return ("volumesnapshot/\(name) is ready to use (restore size \(s.restoreSize ?? "unknown"))", true)
            }
            if let err = s.errorMessage ?? content?.errorMessage {
                throw CLIError.runtime("volumesnapshot/\(name) failed: \(err)")
            }
            let stage: String
            if let c = s.boundContentName {
                stage = "bound to \(c)" + (content?.snapshotHandle.map { ", snapshot \($0) taken, not ready yet" } ?? ", waiting for the CSI driver")
            } else {
                stage = "waiting for the snapshot controller"
            }
            return ("volumesnapshot/\(name): \(stage)", nil)
        }
    }
}


/// The documented default snapshot name format of `create`.
public enum CreateCommandNames {
    /// `PVC-snap-YYYYMMDD-HHMMSS` in UTC; the PVC part is cut so the whole stays within 63 characters.
    public static func defaultName(pvc: String, at date: Date) -> String {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "UTC")!
        let c = cal.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let stamp = String(format: "%04d%02d%02d-%02d%02d%02d", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!)
        let suffix = "-snap-" + stamp
        var base = String(pvc.prefix(63 - suffix.count))
        while base.hasSuffix("-") || base.hasSuffix(".") { base.removeLast() }
        return base + suffix
    }
}
