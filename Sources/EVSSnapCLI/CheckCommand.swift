import ArgumentParser

/// `kubectl evssnap check [PVC]`: run the preflight rules and print each verdict.
struct CheckCommand: EVSSnapCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check the snapshot rules (R1, R2; with a PVC also R3-R5) and print each as passed or failed.",
        usage: "kubectl evssnap check [PVC] [--class CLASS] [flags]",
        discussion: """
            Without PVC only the cluster-level rules run: cluster version (R1), Everest CSI driver, snapshot API \
            and VolumeSnapshotClass (R2). With a PVC also: Everest CSI volume (R3), disk state (R4) and \
            snapshot quota (R5). A check that needs the result of a failed one is not run. Marks are ✔/✘ on a \
            terminal and [ok]/[FAIL] otherwise. Exits 2 when any rule fails.

            Examples:
              kubectl evssnap check
              kubectl evssnap check data-ssd -n apps

            \(exitCodeHelp)
            """
    )

    @Argument(help: "Also check the rules for snapshotting this PVC.")
    var pvc: String?

    @Option(name: .customLong("class"), help: "VolumeSnapshotClass to check.")
    var snapshotClass: String = Rules.settings.defaultSnapshotClass

    @OptionGroup var kube: KubeOptions

    func execute(in env: CommandEnvironment) async throws {
        let session = try await Session.open(kube, env: env)
        let preflight = Preflight(session: session)
        var outcomes = try await preflight.clusterChecks(snapshotClass: snapshotClass)
        var warnings: [String] = []
        // The PVC rules read snapshots and contents: without R1/R2 they cannot run.
        let clusterOK = outcomes.allSatisfy(\.passed)
        if let pvc, clusterOK {
            let target = try await preflight.pvcChecks(pvc: pvc)
            outcomes += target.outcomes
            warnings = target.warnings
        }
        let tty = env.console.isTerminal
        for o in outcomes {
            let mark = o.passed ? (tty ? "✔" : "[ok]  ") : (tty ? "✘" : "[FAIL]")
            // The failure message already starts with the rule id ("R3: ..."); print it once.
            let text = o.passed ? "\(o.rule) \(o.message)" : o.message
            env.console.print("\(mark) \(text)")
        }
        if let pvc, !clusterOK {
            env.console.print("\(tty ? "-" : "[skip]") R3-R5 for PVC \(pvc) not checked: the cluster rules above failed")
        }
        for w in warnings { env.console.print("\(tty ? "!" : "[warn]") \(w)") }
        let failed = outcomes.filter { !$0.passed }
        if !failed.isEmpty {
            env.console.printError("error: \(failed.count) of \(outcomes.count) checks failed (\(failed.map(\.rule).joined(separator: ", ")))")
            throw ExitCode(ExitStatus.refused.rawValue)
        }
    }
}
