import ArgumentParser
import KubeClient

/// `kubectl evssnap delete SNAPSHOT...`: refuses while a restore from the snapshot is Pending (R11).
struct DeleteCommand: EVSSnapCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete VolumeSnapshots, refusing while a PVC restored from one is still Pending (R11).",
        usage: "kubectl evssnap delete SNAPSHOT... [--force] [--ignore-not-found] [--wait] [flags]",
        discussion: """
            Before deleting, checks that no PVC restoring from the snapshot is still Pending (R11) and that the \
            snapshot is not still being created (R13: only ready or failed snapshots can be deleted). --force \
            skips both checks. Snapshots are checked one by one; a refused or missing one does not stop the others, \
            and the exit code is that of the worst failure.

            Examples:
              kubectl evssnap delete snap-1 -n apps
              kubectl evssnap delete snap-1 snap-2 --wait

            \(exitCodeHelp)
            """
    )

    @Argument(help: "The VolumeSnapshots to delete.")
    var snapshots: [String]

    @Flag(help: "Delete even when a rule (R11, R13) says not to.")
    var force = false

    @Flag(name: .customLong("ignore-not-found"), help: "Treat a snapshot that does not exist as deleted.")
    var ignoreNotFound = false

    @Flag(help: "Wait until each snapshot is gone.")
    var wait = false

    @Option(help: "How long --wait waits for each snapshot (0 = forever).")
    var timeout = KubeDuration(seconds: 300)

    @OptionGroup var kube: KubeOptions

    func validate() throws {
        if snapshots.isEmpty { throw ValidationError("Missing expected argument '<snapshots> ...'") }
    }

    func execute(in env: CommandEnvironment) async throws {
        let session = try await Session.open(kube, env: env)
        let vsType = try await session.volumeSnapshots()
        var worst: ExitStatus = .success
        var pvcs: [PVC]?
        for name in snapshots {
            do {
                guard let raw = try await session.api.getIfExists(vsType, namespace: session.namespace, name: name) else {
                    if ignoreNotFound { continue }
                    throw APIError.notFound(vsType, name)
                }
                let snapshot = VolumeSnapshot(raw)
                if !force {
                    if pvcs == nil {
                        pvcs = try await session.api.list(.persistentVolumeClaims, namespace: session.namespace, fieldSelector: nil).map(PVC.init)
                    }
                    let pending = pvcs!.filter { $0.restoredFromSnapshot == name && $0.phase == "Pending" }.map(\.name).sorted()
                    try Rules.deletable(snapshot, namespace: session.namespace, pendingRestores: pending).require()
                }
                try await session.api.delete(vsType, namespace: session.namespace, name: name)
                env.console.print("\(ObjectPrinter.name(vsType, name).replacingOccurrences(of: "/\(name)", with: "")) \"\(name)\" deleted")
                if wait {
                    let _: Bool = try await session.poll(timeout: timeout, what: "volumesnapshot/\(name) to be deleted") {
                        if try await session.api.getIfExists(vsType, namespace: session.namespace, name: name) == nil {
                            return ("volumesnapshot/\(name) deleted", true)
                        }
                        return ("waiting for volumesnapshot/\(name) to be deleted (finalizers)", nil)
                    }
                }
            } catch let e as CLIError {
                env.console.printError(e.description)
                worst = max(worst, e.exitStatus)
            } catch let e as APIError {
                env.console.printError(e.description)
                worst = max(worst, .failure)
            }
        }
        if worst != .success { throw ExitCode(worst.rawValue) }
    }
}

extension ExitStatus: Comparable {
    public static func < (a: ExitStatus, b: ExitStatus) -> Bool { a.rawValue < b.rawValue }
}
