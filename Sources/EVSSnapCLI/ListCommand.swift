import ArgumentParser
import Foundation
import KubeClient

/// `kubectl evssnap list [PVC] [-n NS | -A] [-o wide|json|yaml|name]`.
struct ListCommand: EVSSnapCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List VolumeSnapshots, with each disk's snapshot count against the quota (R5).",
        usage: "kubectl evssnap list [PVC] [-n NS | -A] [-o wide|json|yaml|name] [flags]",
        discussion: """
            Columns: NAME, SOURCE PVC, READY, RESTORE SIZE, CLASS, AGE; -A adds NAMESPACE first; -o wide adds \
            SNAPSHOT CONTENT, DISK (the EVS disk id) and QUOTA (snapshots of that disk / limit, R5).

            Examples:
              kubectl evssnap list -n apps
              kubectl evssnap list data-ssd -o wide
              kubectl evssnap list -A -o name

            \(exitCodeHelp)
            """
    )

    @Argument(help: "Only snapshots of this PVC.")
    var pvc: String?

    @Flag(name: [.customShort("A"), .customLong("all-namespaces")], help: "List snapshots in all namespaces.")
    var allNamespaces = false

    @Option(name: [.customShort("o"), .long], help: "Output format: wide, json, yaml or name.")
    var output: ListOutputFormat?

    @OptionGroup var kube: KubeOptions

    func validate() throws {
        if allNamespaces && kube.namespace != nil {
            throw ValidationError("-n/--namespace and -A/--all-namespaces cannot be used together")
        }
        if allNamespaces && pvc != nil {
            throw ValidationError("a PVC name needs one namespace; drop -A")
        }
    }

    func execute(in env: CommandEnvironment) async throws {
        let session = try await Session.open(kube, env: env)
        let ns: String? = allNamespaces ? nil : session.namespace
        let (vsType, items) = try await session.listVolumeSnapshots(namespace: ns)
        var snapshots = items.map(VolumeSnapshot.init)
        if let pvc { snapshots = snapshots.filter { $0.sourcePVC == pvc } }
        snapshots.sort { ($0.namespace ?? "", $0.name) < ($1.namespace ?? "", $1.name) }

        if snapshots.isEmpty && output != .json && output != .yaml {
            let of = pvc.map { " of PVC \($0)" } ?? ""
            if let ns { env.console.printError("No snapshots\(of) found in \(ns) namespace.") } else { env.console.printError("No snapshots found.") }
            return
        }
        switch output {
        case .json: env.console.out.write(ObjectPrinter.list(snapshots.map(\.raw)).prettyPrinted() + "\n")
        case .yaml: env.console.out.write(ObjectPrinter.list(snapshots.map(\.raw)).yaml())
        case .name:
            for s in snapshots { env.console.print(ObjectPrinter.name(vsType, s.name)) }
        case .wide, nil:
            var inventory: SnapshotInventory?
            if output == .wide {
                try await session.loadDriverSettings()
                inventory = try await loadInventory(session, snapshots: snapshots)
            }
            let limit = Rules.settings.maxSnapshotsPerDisk
            let start = ContinuousClock.now
            let text = ListCommand.table(snapshots, allNamespaces: allNamespaces, inventory: inventory, limit: limit, now: env.now()).render()
            Profile.record("table of \(snapshots.count) rows", since: start)
            env.console.out.write(text)
        }
    }

    /// The inventory for the QUOTA column: every content cluster-wide, so a disk's count includes
    /// snapshots in other namespaces too. A user who may not list contents or PVs (cluster-scoped) gets the
    /// count of the listed snapshots per source PVC, the PV's name standing for the disk, and a warning.
    private func loadInventory(_ session: Session, snapshots: [VolumeSnapshot]) async throws -> SnapshotInventory {
        let contentsRead = try await session.clusterList(try await session.volumeSnapshotContents())
        let contents = (contentsRead.value ?? []).map(VolumeSnapshotContent.init)
        var pvcDisk: [String: String] = [:]
        var refused = contentsRead.refusal.map { [$0] } ?? []
        if SnapshotInventory.needsPVCs(contents: contents, snapshots: snapshots) {
            let pvcs = try await session.api.list(.persistentVolumeClaims, namespace: allNamespaces ? nil : session.namespace, fieldSelector: nil).map(PVC.init)
            let pvsRead = try await session.clusterList(.persistentVolumes)
            if let pvs = pvsRead.value?.map(PV.init) {
                pvcDisk = SnapshotInventory.pvcDiskMap(pvcs: pvcs, pvs: pvs)
            } else {
                for pvc in pvcs { if let v = pvc.volumeName { pvcDisk["\(pvc.namespace ?? "")/\(pvc.name)"] = v } }
            }
            if let r = pvsRead.refusal { refused.append(r) }
        }
        if !refused.isEmpty {
            session.console.printError("warning: R5 not verified: \(refused.joined(separator: "; ")) (QUOTA counts the snapshots listed here, DISK may show the PV name)")
        }
        return SnapshotInventory(contents: contents, snapshots: snapshots, pvcDisk: pvcDisk)
    }

    /// Builds the table; `inventory` non-nil means `-o wide`.
    static func table(_ snapshots: [VolumeSnapshot], allNamespaces: Bool, inventory: SnapshotInventory?, limit: Int, now: Date) -> Table {
        var headers = ["NAME", "SOURCE PVC", "READY", "RESTORE SIZE", "CLASS", "AGE"]
        if allNamespaces { headers.insert("NAMESPACE", at: 0) }
        if inventory != nil { headers += ["SNAPSHOT CONTENT", "DISK", "QUOTA"] }
        var t = Table(headers: headers)
        for s in snapshots {
            var row = [
                s.name,
                s.sourcePVC ?? s.sourceContent.map { "<content \($0)>" } ?? "<none>",
                s.errorMessage != nil && !s.readyToUse ? "Error" : (s.hasReadyStatus ? String(s.readyToUse) : "<unknown>"),
                s.restoreSize ?? "<none>",
                s.className ?? "<none>",
                KubeTime.age(from: s.creationTimestamp, now: now),
            ]
            if allNamespaces { row.insert(s.namespace ?? "", at: 0) }
            if let inventory {
                let disk = inventory.disk(of: s)
                row += [s.boundContentName ?? "<none>", disk ?? "<unknown>", disk.map { "\(inventory.count(disk: $0))/\(limit)" } ?? "<unknown>"]
            }
            t.append(row)
        }
        return t
    }
}
