// evssnap-scheduler: carries out SnapshotSchedule objects (evssnap.io/v1alpha1; docs/schedules.md).
// Thin: flags -> Kubernetes client -> ScheduleController.runForever (or one pass with --once).
import Foundation
import KubeClient
import ScheduleController
import SnapshotSchedules
import TimeCore

let usage = """
    usage: evssnap-scheduler [--kubeconfig PATH] [--namespace NS] [--driver-name NAME] [--zoneinfo DIR]
                             [--poll-interval SECONDS] [--deletion-wait SECONDS] [--once] [-v]
      Runs SnapshotSchedules: snapshots at their cron slots, rotation inside R5. In a pod it uses the service account.
      --namespace      only schedules of this namespace (default: every namespace)
      --zoneinfo       TZif directory (default: $ZONEINFO, else /usr/share/zoneinfo)
      --once           one pass, then exit (0: every run done, 3: some PVC refused or failed)
    """

var kubeconfig: String?
var namespace: String?
var settings = ControllerSettings()
var zoneDir = ProcessInfo.processInfo.environment["ZONEINFO"] ?? "/usr/share/zoneinfo"
var once = false
var verbose = false
var args = Array(CommandLine.arguments.dropFirst())
func fail(_ m: String) -> Never { FileHandle.standardError.write(Data("evssnap-scheduler: \(m)\n\(usage)\n".utf8)); exit(64) }
while !args.isEmpty {
    var flag = args.removeFirst()
    var value: String?
    if let eq = flag.firstIndex(of: "="), flag.hasPrefix("--") { value = String(flag[flag.index(after: eq)...]); flag = String(flag[..<eq]) }
    func take() -> String {
        if let value { return value }
        guard !args.isEmpty else { fail("\(flag) needs a value") }
        return args.removeFirst()
    }
    switch flag {
    case "--kubeconfig": kubeconfig = take()
    case "--namespace", "-n": namespace = take()
    case "--driver-name": settings.driverName = take()
    case "--zoneinfo": zoneDir = take()
    case "--poll-interval": guard let v = Int64(take()), v > 0 else { fail("--poll-interval: seconds > 0") }; settings.pollInterval = v
    case "--deletion-wait": guard let v = Int64(take()), v > 0 else { fail("--deletion-wait: seconds > 0") }; settings.deletionWait = .seconds(v)
    case "--once": once = true
    case "-v", "--verbose": verbose = true
    case "-h", "--help": print(usage); exit(0)
    default: fail("unknown flag \(flag)")
    }
}

let log: @Sendable (String) -> Void = { line in
    FileHandle.standardError.write(Data("\(Civil.rfc3339(Int64(Date().timeIntervalSince1970))) \(line)\n".utf8))
}
let zones = ZoneSource { [zoneDir] name in FileManager.default.contents(atPath: zoneDir + "/" + name).map { [UInt8]($0) } }
let config: ClientConfig
// Every request is bounded (a slow or gone API server delays a pass; the slot stays not done and runs later).
do { config = try ClientConfig.load(ConfigOverrides(kubeconfig: kubeconfig, requestTimeout: .seconds(30))) } catch {
    log("no Kubernetes access: \(error)")
    exit(1)
}
let client = try KubeClient(config: config, options: .init(verbosity: verbose ? 6 : 0, userAgent: "evssnap-scheduler",
                                                           log: log, warningHandler: { log("warning: \($0)") }))
let controller = ScheduleController(api: KubeScheduleAPI(client: client, namespace: namespace), clock: SystemClock(),
                                    zones: zones, settings: settings, log: log)
signal(SIGTERM, SIG_IGN)
signal(SIGINT, SIG_IGN)
let main = Task {
    if once {
        do {
            let runs = try await controller.reconcileOnce()
            exit(runs.allSatisfy { $0.claims.allSatisfy { $0.outcome == .created || $0.outcome == .exists } } ? 0 : 3)
        } catch {
            log("pass failed: \(error)")
            exit(1)
        }
    }
    log("evssnap-scheduler started (namespace \(namespace ?? "all"), driver \(settings.driverName), zoneinfo \(zoneDir))")
    await controller.runForever()
}
// Held by a global for the life of the process (not by a discarded retain, which LeakSanitizer rightly reports).
let signalSources = [SIGTERM, SIGINT].map { sig in
    let source = DispatchSource.makeSignalSource(signal: sig, queue: .main)
    source.setEventHandler { log("signal \(sig): stopping"); main.cancel(); exit(0) }
    source.resume()
    return source
}
dispatchMain()
