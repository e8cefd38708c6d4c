import EVSSnapCLI
import Synchronization
import Foundation
import Testing

/// Golden help text of every command (Tests/EVSSnapCLITests/Golden/*.txt). Regenerate with EVSSNAP_UPDATE_GOLDEN=1.
@Test("golden help text", arguments: ["", "create", "list", "describe", "delete", "restore", "check", "schedule", "version"])
func goldenHelp(_ command: String) async throws {
    let args = command.isEmpty ? ["--help"] : [command, "--help"]
    let r = await evssnap(args, cluster: InMemoryCluster())
    #expect(r.code == 0)
    #expect(r.err == "")
    let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Golden/help-\(command.isEmpty ? "root" : command).txt")
    if ProcessInfo.processInfo.environment["EVSSNAP_UPDATE_GOLDEN"] == "1" {
        try r.out.write(to: file, atomically: true, encoding: .utf8)
    }
    let golden = try String(contentsOf: file, encoding: .utf8)
    #expect(r.out == golden)
    // Help and usage say `kubectl evssnap`, never the binary's name.
    #expect(!r.out.contains("kubectl-evssnap"))
    if !command.isEmpty { #expect(r.out.contains("USAGE: kubectl evssnap \(command)")) }
    #expect(r.out.contains("64  usage error"))
}

@Test("`help CMD` and `-h` show the same help as `CMD --help`")
func helpForms() async {
    let a = await evssnap(["create", "--help"])
    let b = await evssnap(["help", "create"])
    let c = await evssnap(["create", "-h"])
    #expect(a.out == b.out)
    #expect(a.out == c.out)
}

struct UsageCase: Sendable, CustomTestStringConvertible {
    var args: [String]
    var message: String
    var testDescription: String { args.joined(separator: " ") }
}

@Test("usage errors exit 64 with ArgumentParser's message and usage", arguments: [
    UsageCase(args: ["create"], message: "Error: Missing expected argument '<pvc>'"),
    UsageCase(args: ["create", "data-ssd", "--bogus"], message: "Error: Unknown option '--bogus'"),
    UsageCase(args: ["create", "data-ssd", "-o", "table"], message: "Error: The value 'table' is invalid for '-o <output>'"),
    UsageCase(args: ["create", "data-ssd", "--dry-run=maybe"], message: "Error: The value 'maybe' is invalid for '--dry-run <dry-run>'"),
    UsageCase(args: ["create", "data-ssd", "--wait", "--dry-run=client"], message: "Error: --wait cannot be used with --dry-run"),
    UsageCase(args: ["create", "data-ssd", "--timeout", "soon"], message: "Error: The value 'soon' is invalid for '--timeout <timeout>'"),
    UsageCase(args: ["list", "-A", "-n", "apps"], message: "Error: -n/--namespace and -A/--all-namespaces cannot be used together"),
    UsageCase(args: ["list", "-o", "table"], message: "Error: The value 'table' is invalid for '-o <output>'"),
    UsageCase(args: ["restore", "snap-1"], message: "Error: --to needs the name of the new PVC"),
    UsageCase(args: ["delete"], message: "Error: Missing expected argument '<snapshots> ...'"),
    UsageCase(args: ["frobnicate"], message: "Error: Unexpected argument 'frobnicate'"),
])
func usageErrors(_ c: UsageCase) async {
    let cluster = World.standard()
    let r = await evssnap(c.args, cluster: cluster)
    #expect(r.code == 64, "\(r.err)")
    #expect(r.err.hasPrefix(c.message), "\(r.err)")
    #expect(r.err.contains("Usage: kubectl evssnap"))
    #expect(r.out == "")
    #expect(cluster.writes.isEmpty)
}

@Test("the kubectl flags parse in every command, before or after the arguments")
func globalFlags() async {
    let seen = Mutex<KubeOptions?>(nil)
    let out = BufferSink(), err = BufferSink()
    let env = CommandEnvironment(console: Console(out: out, err: err, isTerminal: false),
                                 connect: { o in seen.withLock { $0 = o }; return ClusterConnection(api: World.standard(), defaultNamespace: "default") },
                                 now: { World.now })
    let code = await EVSSnapMain.run(arguments: [
        "--kubeconfig", "/tmp/kc", "--context", "ctx", "--cluster", "cl", "--user", "me", "-n", "apps",
        "list", "--request-timeout", "1m30s", "--insecure-skip-tls-verify", "-v", "6",
    ].filter { _ in true }.drop(while: { $0 != "list" }).map { $0 } + ["--kubeconfig", "/tmp/kc", "--context", "ctx", "--cluster", "cl", "--user", "me", "-n", "apps"], in: env)
    #expect(code == 0, "\(err.text)")
    let o = seen.withLock { $0 }
    #expect(o?.kubeconfig == "/tmp/kc")
    #expect(o?.context == "ctx")
    #expect(o?.cluster == "cl")
    #expect(o?.user == "me")
    #expect(o?.namespace == "apps")
    #expect(o?.requestTimeout.seconds == 90)
    #expect(o?.insecureSkipTLSVerify == true)
    #expect(o?.verbosity == 6)
}

@Test("without -n the kubeconfig context's namespace is used")
func contextNamespace() async {
    let r = await evssnap(["list"], cluster: World.standard(), namespace: "web")
    #expect(r.err == "No snapshots found in web namespace.\n")
}

@Test("durations as kubectl writes them", arguments: [("5m", 300.0), ("30s", 30), ("1h30m", 5400), ("500ms", 0.5), ("0", 0), ("12", 12)])
func durations(_ text: String, _ seconds: Double) {
    #expect(KubeDuration(argument: text)?.seconds == seconds)
}

@Test("malformed durations are rejected", arguments: ["", "5x", "m", "-1s", "1.2.3s"])
func badDurations(_ text: String) {
    #expect(KubeDuration(argument: text) == nil)
}

@Test("kubectl's -x=value forms of short flags are accepted")
func shortFlagsWithEquals() async {
    let r = await evssnap(["list", "-n=web", "-o=name", "-v=6"])
    #expect(r.code == 0, "\(r.err)")
    #expect(r.err == "No snapshots found in web namespace.\n")
}
