import ArgumentParser
import EVSSnapshotRules

/// `kubectl evssnap check [PVC] [-f PVC.yaml]`: run the preflight rules and print each verdict.
struct CheckCommand: EVSSnapCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check the snapshot rules (R1, R2; with a PVC also R3-R5; with -f R7-R12) and print each as passed, failed or unverified.",
        usage: "kubectl evssnap check [PVC] [-f RESTORE-PVC.yaml] [--class CLASS] [flags]",
        discussion: """
            Without arguments only the cluster-level rules run: cluster version (R1), Everest CSI driver, \
            snapshot API and VolumeSnapshotClass (R2). With a PVC also: Everest CSI volume (R3), disk state (R4) \
            and snapshot quota (R5). With -f, the PVC in the file is checked as a restore of the VolumeSnapshot \
            its dataSource names: new name (R7), shape (R10), snapshot ready (R11), size (R12), same disk \
            attributes (R8) and zone (R9). A check that needs the result of a failed one is not run.

            Each rule is printed as passed, failed, or unverified: unverified names the read the user may not \
            make and so the permission that would verify it (the driver still enforces the rule). Marks are \
            ✔/✘/? on a terminal and [ok]/[FAIL]/[unverified] otherwise. Exits 0 when no rule failed, 2 when any did.

            \(rbacHelp)

            Examples:
              kubectl evssnap check
              kubectl evssnap check data-ssd -n apps
              kubectl evssnap check -f restore-pvc.yaml -n apps

            \(exitCodeHelp)
            """
    )

    @Argument(help: "Also check the rules for snapshotting this PVC.")
    var pvc: String?

    @Option(name: [.customShort("f"), .customLong("filename")],
            help: "Check the PVC in this file (YAML or JSON, - for stdin) as a restore of the snapshot its dataSource names.")
    var filename: String?

    @Option(name: .customLong("class"), help: "VolumeSnapshotClass to check (default: the driver's published default, else csi-disk-snapclass).")
    var snapshotClass: String?

    @OptionGroup var kube: KubeOptions

    func execute(in env: CommandEnvironment) async throws {
        let session = try await Session.open(kube, env: env)
        let preflight = Preflight(session: session)
        var outcomes = try await preflight.clusterChecks(snapshotClass: snapshotClass)
        var warnings: [String] = []
        // The PVC rules read snapshots and contents: with R1/R2 failed they cannot run.
        let clusterOK = !outcomes.contains(where: \.failed)
        if clusterOK {
            if let pvc {
                let target = try await preflight.pvcChecks(pvc: pvc)
                outcomes += target.outcomes
                warnings += target.warnings
            }
            if let filename {
                let result = try await RestoreTarget.check(try ManifestFile.read(filename), session: session)
                outcomes += result.outcomes
                warnings += result.warnings
            }
        }
        let tty = env.console.isTerminal
        for o in outcomes {
            switch o.verdict {
            case .passed: env.console.print("\(tty ? "✔" : "[ok]        ") \(o.rule) \(o.message)")
            // The failure message already starts with the rule id ("R3: ..."); print it once.
            case .failed: env.console.print("\(tty ? "✘" : "[FAIL]      ") \(o.message)")
            case .unverified: env.console.print("\(tty ? "?" : "[unverified]") \(o.rule) not verified: \(o.message)")
            }
        }
        if !clusterOK {
            let skipped = [pvc.map { "\(RuleID.r3)-\(RuleID.r5) for PVC \($0)" }, filename.map { "\(RuleID.r7)-\(RuleID.r12) for \($0)" }].compactMap { $0 }
            if !skipped.isEmpty {
                env.console.print("\(tty ? "-" : "[skip]      ") \(skipped.joined(separator: " and ")) not checked: the cluster rules above failed")
            }
        }
        for w in warnings { env.console.print("\(tty ? "!" : "[warn]      ") \(w)") }
        let failed = outcomes.filter(\.failed)
        let unverified = outcomes.filter { $0.verdict == .unverified }
        if !unverified.isEmpty {
            env.console.printError("\(unverified.count) of \(outcomes.count) checks not verified (\(unverified.map(\.rule).joined(separator: ", "))): the read-only ClusterRole evssnap-reader in deploy/rbac-user.yaml verifies them; the driver enforces them either way")
        }
        if !failed.isEmpty {
            env.console.printError("error: \(failed.count) of \(outcomes.count) checks failed (\(failed.map(\.rule).joined(separator: ", ")))")
            throw ExitCode(ExitStatus.refused.rawValue)
        }
    }
}
