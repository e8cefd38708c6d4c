import ArgumentParser
import EVSSnapshotRules
import Foundation
import KubeClient

/// `kubectl evssnap describe SNAPSHOT`: the snapshot, its content, source PVC/PV, restore constraints, events.
struct DescribeCommand: EVSSnapCommand {
    static let configuration = CommandConfiguration(
        commandName: "describe",
        abstract: "Show a snapshot, its content, its source PVC and PV, what a restore must match, and its events.",
        usage: "kubectl evssnap describe SNAPSHOT [-n NS] [flags]",
        discussion: """
            "Restore Must Match" lists the source disk's attributes a restored disk must keep (R8, R9): disk \
            type, mode, encryption, sharing, capacity, region/zone and file system.

            Examples:
              kubectl evssnap describe snap-1 -n apps

            \(exitCodeHelp)
            """
    )

    @Argument(help: "The VolumeSnapshot to describe.")
    var snapshot: String

    @OptionGroup var kube: KubeOptions

    func execute(in env: CommandEnvironment) async throws {
        let session = try await Session.open(kube, env: env)
        let vs = try await session.snapshot(snapshot)
        let source = try await SourceDisk.load(session: session, snapshot: vs)
        for w in source.warnings { env.console.warn(w) }
        let events = try await session.api.list(.events, namespace: session.namespace,
                                                fieldSelector: "involvedObject.name=\(snapshot)").map(KubeEvent.init)
            .filter { ($0.raw["involvedObject"]["kind"].string ?? "VolumeSnapshot") == "VolumeSnapshot" }
        env.console.out.write(DescribeCommand.render(source, events: events, now: env.now()))
    }

    /// The describe text, in kubectl's `Key:  value` layout.
    static func render(_ s: SourceDisk, events: [KubeEvent], now: Date) -> String {
        var w = DescribeWriter()
        let vs = s.volumeSnapshot
        w.field("Name", vs.name)
        w.field("Namespace", vs.namespace ?? "")
        w.map("Labels", vs.labels)
        w.map("Annotations", vs.annotations.filter { $0.key != "kubectl.kubernetes.io/last-applied-configuration" })
        w.field("Class", vs.className ?? "<none>")
        w.field("Source PVC", vs.sourcePVC ?? "<none>")
        w.field("Status", Rules.snapshotStatus(vs).rawValue)
        w.field("Ready To Use", vs.hasReadyStatus ? String(vs.readyToUse) : "<unknown>")
        w.field("Restore Size", vs.restoreSize ?? "<none>")
        w.field("Creation Time", vs.creationTime.map(KubeTime.format) ?? "<none>")
        if let e = vs.errorMessage { w.field("Error", e) }
        if let d = vs.deletionTimestamp { w.field("Deleting Since", KubeTime.format(d)) }

        w.section("Content")
        if let c = s.content {
            w.field("Name", c.name, level: 1)
            w.field("Driver", c.driver ?? "<none>", level: 1)
            w.field("Volume Handle", c.volumeHandle ?? "<none>", level: 1)
            w.field("Snapshot Handle", c.snapshotHandle ?? "<none>", level: 1)
            w.field("Deletion Policy", c.deletionPolicy ?? "<none>", level: 1)
            w.field("Ready To Use", String(c.readyToUse), level: 1)
            if let e = c.errorMessage { w.field("Error", e, level: 1) }
        } else {
            let why = s.refusedReads.first { $0.contains("volumesnapshotcontents") }.map { "not readable: \($0)" } ?? "not found"
            w.field("Name", vs.boundContentName.map { "\($0) (\(why))" } ?? "<none>", level: 1)
        }

        w.section("Source")
        if let pvc = s.pvc {
            w.field("PVC", "\(pvc.namespace ?? "")/\(pvc.name) (\(pvc.phase), \(pvc.capacity ?? pvc.requestedStorage ?? "?"), class \(pvc.storageClassName ?? "<none>"))", level: 1)
        } else {
            w.field("PVC", vs.sourcePVC.map { "\($0) (not found)" } ?? "<none>", level: 1)
        }
        if let pv = s.pv {
            w.field("PV", "\(pv.name) (\(pv.phase), driver \(pv.csiDriver ?? pv.flexDriver ?? "<none>"))", level: 1)
        } else {
            if let why = s.refusedReads.first(where: { $0.contains("persistentvolumes") }) {
                w.field("PV", "\(s.pvc?.volumeName ?? "<unknown>") (not readable: \(why))", level: 1)
            } else {
                w.field("PV", "<not found>", level: 1)
            }
        }

        w.section("Restore Must Match")
        if let d = s.disk {
            w.field("Disk", d.id.rawValue, level: 1)
            w.field("Disk Type", d.type.rawValue, level: 1)
            w.field("Disk Mode", d.mode.rawValue, level: 1)
            w.field("Encryption", d.encryption.keyID.map { "encrypted (KMS key \($0))" } ?? "plain", level: 1)
            w.field("Sharing", d.sharing.rawValue, level: 1)
            w.field("Capacity", "\(s.snapshot?.sizeGiB ?? d.capacityGiB)Gi", level: 1)
            w.field("Region/Zone", "\(d.topology.region.isEmpty ? "<unknown>" : d.topology.region)/\(d.topology.zone.isEmpty ? "<unknown>" : d.topology.zone)", level: 1)
            w.field("FS Type", d.fsType.rawValue, level: 1)
        } else {
            w.line("  <source disk not found: neither the source PVC's PV nor a PV of the content's volumeHandle exists>")
        }

        if events.isEmpty {
            w.field("Events", "<none>")
        } else {
            w.section("Events")
            var t = Table(headers: ["Type", "Reason", "Age", "From", "Message"])
            let sorted = events.sorted { ($0.lastSeen ?? .distantPast) < ($1.lastSeen ?? .distantPast) }
            t.rows.append(["----", "------", "----", "----", "-------"])
            for e in sorted {
                let age = KubeTime.age(from: e.lastSeen, now: now) + (e.count > 1 ? " (x\(e.count))" : "")
                t.append([e.type, e.reason, age, e.source, e.message])
            }
            for l in t.render().split(separator: "\n", omittingEmptySubsequences: false) where !l.isEmpty { w.line("  " + l) }
        }
        return w.text
    }
}

/// kubectl describe's layout: `Key:` padded to a common column, nested sections indented by two spaces.
struct DescribeWriter {
    private(set) var text = ""
    mutating func line(_ s: String) { text += s + "\n" }
    mutating func section(_ title: String) { line("\(title):") }
    mutating func field(_ key: String, _ value: String, level: Int = 0) {
        let indent = String(repeating: "  ", count: level)
        let label = "\(key):"
        line(indent + label.padding(toLength: max(label.count + 1, 20 - indent.count), withPad: " ", startingAt: 0) + value)
    }
    mutating func map(_ key: String, _ m: [String: String]) {
        if m.isEmpty { field(key, "<none>"); return }
        let pairs = m.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        field(key, pairs[0])
        for p in pairs.dropFirst() { line(String(repeating: " ", count: 20) + p) }
    }
}
