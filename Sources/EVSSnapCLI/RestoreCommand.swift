import ArgumentParser
import Foundation
import JSONCore
import KubeClient

/// `kubectl evssnap restore SNAPSHOT --to NEW-PVC`: build the R10 PVC and refuse R7, R8, R9, R11 first.
struct RestoreCommand: EVSSnapCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore a snapshot into a new PVC shaped as Everest requires (R10), after checking R7-R9, R11.",
        usage: "kubectl evssnap restore SNAPSHOT --to NEW-PVC [--storage-class CLASS] | -f PVC.yaml  [--wait] [--dry-run=client|server] [-o yaml|json|name] [flags]",
        discussion: """
            Builds the PVC from the source PV and PVC: StorageClass of the Everest driver, annotation \
            everest.io/disk-volume-type equal to the source's (and everest.io/crypt-key-id for an encrypted \
            source), csi.storage.k8s.io/fstype: xfs for xfs sources, the region and zone labels of the source, \
            ReadWriteOnce, a request equal to the source capacity and a dataSource naming the snapshot (R10).

            Refuses, before creating anything: a NEW-PVC that already exists (R7); a StorageClass that would \
            give the new disk another type, mode, encryption or sharing than the source's (R8); a StorageClass \
            whose allowed topologies exclude the snapshot's zone (R9); a snapshot that is not ready to use (R11).

            With -f, the PVC is the one in the file (its dataSource names the snapshot): it is checked against \
            the same rules (R7-R12) and created as written.

            \(rbacHelp)

            Examples:
              kubectl evssnap restore snap-1 --to data-ssd-restore -n apps
              kubectl evssnap restore -f restore-pvc.yaml -n apps
              kubectl evssnap restore snap-1 --to data-copy --dry-run=client -o yaml
              kubectl evssnap restore snap-1 --to data-copy --wait

            \(exitCodeHelp)
            """
    )

    @Argument(help: "The VolumeSnapshot to restore (not with -f).")
    var snapshot: String?

    @Option(help: "Name of the new PVC (must not exist: R7).")
    var to: String?

    @Option(name: [.customShort("f"), .customLong("filename")],
            help: "Restore with the PVC in this file (YAML or JSON, - for stdin) after checking it against R7-R12, instead of building one.")
    var filename: String?

    @Option(name: .customLong("storage-class"), help: "StorageClass of the new PVC (must belong to the Everest driver; default: the driver's published default, else csi-disk).")
    var storageClass: String?

    @Flag(help: "Wait until the new PVC is Bound.")
    var wait = false

    @Option(help: "How long --wait waits (0 = forever).")
    var timeout = KubeDuration(seconds: 300)

    @Option(name: .customLong("dry-run"), help: "client: check the rules and print the PVC; server: also have the server validate it.")
    var dryRun: DryRun = .none

    @Option(name: [.customShort("o"), .long], help: "Output format: yaml, json or name.")
    var output: WriteOutputFormat?

    @OptionGroup var kube: KubeOptions

    func validate() throws {
        if wait && dryRun != .none { throw ValidationError("--wait cannot be used with --dry-run") }
        if filename != nil {
            if snapshot != nil || to != nil { throw ValidationError("-f takes the snapshot and the PVC name from the file: drop SNAPSHOT and --to") }
        } else {
            if snapshot == nil { throw ValidationError("Missing expected argument '<snapshot>' (or -f FILE)") }
            if (to ?? "").isEmpty { throw ValidationError("--to needs the name of the new PVC") }
        }
    }

    func execute(in env: CommandEnvironment) async throws {
        let session = try await Session.open(kube, env: env)
        try await session.loadDriverSettings()
        let object: JSON
        let ns: String
        let name: String
        if let filename {
            // R7-R12 on the user's PVC.
            let result = try await RestoreTarget.check(try ManifestFile.read(filename), session: session)
            for w in result.warnings { env.console.warn(w) }
            for o in result.outcomes { try o.enforce(env.console) }
            object = result.object
            ns = result.namespace
            name = object["metadata"]["name"].string ?? ""
        } else {
            let snapshot = snapshot ?? "", to = to ?? ""
            ns = session.namespace
            name = to
            let vs = try await session.snapshot(snapshot)

            // R7: a snapshot only creates a new disk; the PVC name must be free.
            let existing = try await session.api.getIfExists(.persistentVolumeClaims, namespace: ns, name: to)
            try Rules.restoreTargetFree("\(ns)/\(to)", exists: existing != nil).require()

            let source = try await SourceDisk.load(session: session, snapshot: vs)
            for w in source.warnings { env.console.warn(w) }
            guard let snap = source.snapshot else {
                throw CLIError.runtime("cannot find the source disk of volumesnapshot/\(snapshot): neither PVC \(vs.sourcePVC ?? "<none>") nor a PV with the content's volumeHandle \(source.content?.volumeHandle ?? "<none>") exists; write the restore PVC by hand and restore it with -f (see plugin/README.md)")
            }
            // R11: only a ready snapshot can be restored.
            try Rules.readyToRestore(vs, snapshot: snap).require()

            // R10 (class of the driver), R12 (size), R8 (what the class gives the new disk), R9 (zone).
            let storageClass = self.storageClass ?? Rules.settings.defaultStorageClass
            let sc = try await session.readStorageClass(storageClass)
            let plan = Rules.restorePlan(name: to, namespace: ns, volumeSnapshot: vs.name, snapshot: snap,
                                         storageClassName: storageClass, storageClass: sc, sourceUnknown: source.refusedReads)
            for o in plan.outcomes { try o.enforce(env.console) }
            object = plan.pvc
        }

        let created: JSON
        if dryRun == .client {
            created = object
        } else {
            created = try await session.api.create(.persistentVolumeClaims, namespace: ns, object: object, dryRun: dryRun)
        }
        if let output {
            env.console.out.write(ObjectPrinter.render(created, type: .persistentVolumeClaims, format: output))
        } else {
            env.console.print(ObjectPrinter.created(.persistentVolumeClaims, name, dryRun: dryRun))
        }
        if wait { try await RestoreCommand.waitBound(session: session, name: name, namespace: ns, timeout: timeout) }
    }

    /// Polls the new PVC until Bound; progress shows the latest Warning event (e.g. ProvisioningFailed).
    static func waitBound(session: Session, name: String, namespace: String, timeout: KubeDuration) async throws {
        let _: Bool = try await session.poll(timeout: timeout, what: "persistentvolumeclaim/\(name) to be Bound") {
            let pvc = try await session.pvc(name, namespace: namespace)
            if pvc.phase == "Bound" {
                return ("persistentvolumeclaim/\(name) is Bound to \(pvc.volumeName ?? "?")", true)
            }
            if pvc.phase == "Lost" { throw CLIError.runtime("persistentvolumeclaim/\(name) is Lost") }
            let events = try await session.api.list(.events, namespace: namespace,
                                                    fieldSelector: "involvedObject.name=\(name)").map(KubeEvent.init)
            let warning = events.filter { $0.type == "Warning" }.max { ($0.lastSeen ?? .distantPast) < ($1.lastSeen ?? .distantPast) }
            let detail = warning.map { ": \($0.reason) \($0.message)" } ?? ""
            return ("persistentvolumeclaim/\(name) is \(pvc.phase)\(detail)", nil)
        }
    }
}
