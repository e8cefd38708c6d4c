// evs-csi-driver: flags -> DriverConfiguration -> storage backend -> Driver -> wait for SIGTERM/SIGINT.
// The one place that picks the storage: the services see only `BlockStorageBackend` and `NodeDiskLocator`.
//
// Exit codes: 0 stopped by SIGTERM/SIGINT after a graceful shutdown (calls still stuck in a system call 5 s after
// being cancelled are abandoned, and logged); 1 the state directory could not be
// opened or the Kubernetes access (--kubeconfig) is unusable; 2 the endpoint cannot be used (directory missing, socket held by a live server, bind failed);
// 64 usage error (bad or conflicting flags).
import CSIDriver
import EVSCloud
import EVSCloudTransport
import EVSEmulator
import EVSSnapshotRules
import Glibc
import Logging
import RPCServer

struct EVSCSIDriver {
    static let commandName = "evs-csi-driver"
    static let abstract = "A CSI driver that plays Huawei EVS + the Everest CSI add-on on an embedded emulator."
    static let discussion = """
        Exit codes: 0 graceful stop (SIGTERM/SIGINT); 1 state directory or --kubeconfig unusable; \
        2 endpoint unusable (directory missing, socket held by a live server, bind failed); 64 usage error.
        """

    static let flags: [Flags.Spec] = [
        .init(name: "endpoint", value: "endpoint", help: "CSI endpoint: unix:///path/csi.sock or tcp://host:port.", shownDefault: "unix:///csi/csi.sock"),
        .init(name: "driver-name", value: "name", help: "Name the driver registers under.", shownDefault: "disk.csi.everest.io"),
        .init(name: "node-id", value: "id", help: "This node's id (required with --mode node or all).", shownDefault: "$NODE_ID"),
        .init(name: "mode", value: "mode", help: "Services to serve: controller, node or all.", shownDefault: "all"),
        .init(name: "backend", value: "kind", help: "Storage backend: emulator (embedded, one node) or evs (Huawei Cloud EVS + ECS through their public API).", shownDefault: "emulator"),
        .init(name: "evs-endpoint", value: "url", help: "evs: the EVS endpoint (default https://evs.<region>.myhuaweicloud.com, region from the first --zone).", shownDefault: nil),
        .init(name: "ecs-endpoint", value: "url", help: "evs: the ECS endpoint (default https://ecs.<region>.myhuaweicloud.com).", shownDefault: nil),
        .init(name: "iam-endpoint", value: "url", help: "evs: the IAM endpoint, used with IAM user credentials (default https://iam.<region>.myhuaweicloud.com).", shownDefault: nil),
        .init(name: "project-id", value: "id", help: "evs: the project id of the region.", shownDefault: nil),
        .init(name: "cloud-credentials", value: "path", help: "evs: credentials: a mounted Secret directory (access_key + secret_key, or username + password + domain_name) or a key=value file.", shownDefault: nil),
        .init(name: "cloud-ca-file", value: "path", help: "evs: a PEM CA bundle to trust instead of the system's (tests).", shownDefault: nil),
        .init(name: "cloud-poll-interval-ms", value: "ms", help: "evs: milliseconds between polls of an EVS/ECS job.", shownDefault: "1000"),
        .init(name: "state-dir", value: "path", help: "The emulator's state directory (metadata and disk images).", shownDefault: "/var/lib/evssnap"),
        .init(name: "zone", value: "region/zone", help: "An availability zone as region/zone (repeatable); the first is this node's.", shownDefault: "cn-north-4/cn-north-4a", repeatable: true),
        .init(name: "max-snapshots-per-disk", value: "n", help: "Most snapshots per disk (rule R5); published on the CSIDriver object for kubectl evssnap.", shownDefault: "7"),
        .init(name: "max-volumes-per-node", value: "n", help: "EVS's attach limit per server.", shownDefault: "59"),
        .init(name: "socket-mode", value: "octal", help: "Unix socket file mode, octal.", shownDefault: "0660"),
        .init(name: "shutdown-grace", value: "seconds", help: "Seconds calls in flight may run after SIGTERM before they are cancelled.", shownDefault: "10"),
        .init(name: "kubeconfig", value: "path", help: "Kubeconfig to read PVC annotations with (default: the in-cluster service account inside a pod, else none).", shownDefault: nil),
        .init(name: "kube-api-timeout", value: "seconds", help: "Seconds a Kubernetes API call may take when the RPC's deadline allows more (1...10).", shownDefault: "10"),
        .init(name: "log-level", value: "level", help: "Log level: trace, debug, info, notice, warning, error, critical.", shownDefault: "info"),
    ]

    var endpoint: String = "unix:///csi/csi.sock"
    var driverName: String = EverestNames.driverName
    var nodeId: String = processEnvironment()["NODE_ID"] ?? ""
    var mode: DriverConfiguration.Mode = .all
    var backend: BackendKind = .emulator
    var evsEndpoint: String?
    var ecsEndpoint: String?
    var iamEndpoint: String?
    var projectId: String?
    var cloudCredentials: String?
    var cloudCaFile: String?
    var cloudPollIntervalMs: Int = 1000
    var stateDir: String = "/var/lib/evssnap"
    var zones: [String] = ["cn-north-4/cn-north-4a"]
    var maxSnapshotsPerDisk: Int = 7
    var maxVolumesPerNode: Int = 59
    var socketMode: String = "0660"
    var shutdownGrace: Int = 10
    var kubeconfig: String?
    var kubeApiTimeout: Int = 10
    var logLevel: Logger.Level = .info

    /// The command the flags describe (defaults for what they leave out), validated.
    static func read(_ flags: Flags) throws(UsageError) -> EVSCSIDriver {
        var command = EVSCSIDriver()
        if let value = flags.string("endpoint") { command.endpoint = value }
        if let value = flags.string("driver-name") { command.driverName = value }
        if let value = flags.string("node-id") { command.nodeId = value }
        if let value = try flags.choice("mode", as: DriverConfiguration.Mode.self) { command.mode = value }
        if let value = try flags.choice("backend", as: BackendKind.self) { command.backend = value }
        if let value = flags.string("evs-endpoint") { command.evsEndpoint = value }
        if let value = flags.string("ecs-endpoint") { command.ecsEndpoint = value }
        if let value = flags.string("iam-endpoint") { command.iamEndpoint = value }
        if let value = flags.string("project-id") { command.projectId = value }
        if let value = flags.string("cloud-credentials") { command.cloudCredentials = value }
        if let value = flags.string("cloud-ca-file") { command.cloudCaFile = value }
        if let value = try flags.int("cloud-poll-interval-ms") { command.cloudPollIntervalMs = value }
        if let value = flags.string("state-dir") { command.stateDir = value }
        if let value = flags.list("zone") { command.zones = value }
        if let value = try flags.int("max-snapshots-per-disk") { command.maxSnapshotsPerDisk = value }
        if let value = try flags.int("max-volumes-per-node") { command.maxVolumesPerNode = value }
        if let value = flags.string("socket-mode") { command.socketMode = value }
        if let value = try flags.int("shutdown-grace") { command.shutdownGrace = value }
        if let value = flags.string("kubeconfig") { command.kubeconfig = value }
        if let value = try flags.int("kube-api-timeout") { command.kubeApiTimeout = value }
        if let value = try flags.choice("log-level", as: Logger.Level.self) { command.logLevel = value }
        try command.validate()
        return command
    }

    func validate() throws(UsageError) {
        guard UInt32(socketMode, radix: 8) != nil else { throw UsageError("--socket-mode must be octal, e.g. 0660") }
        for zone in zones where zone.split(separator: "/").count != 2 {
            throw UsageError("--zone \(zone) is not region/zone, e.g. cn-north-4/cn-north-4a")
        }
        if maxSnapshotsPerDisk < 1 { throw UsageError("--max-snapshots-per-disk must be at least 1") }
        if maxVolumesPerNode < 1 { throw UsageError("--max-volumes-per-node must be at least 1") }
        if !(1...10).contains(kubeApiTimeout) { throw UsageError("--kube-api-timeout must be 1...10 seconds") }
        if backend == .evs {
            if projectId?.isEmpty ?? true { throw UsageError("--backend evs needs --project-id") }
            if cloudCredentials?.isEmpty ?? true { throw UsageError("--backend evs needs --cloud-credentials") }
            for (flag, value) in [("--evs-endpoint", evsEndpoint), ("--ecs-endpoint", ecsEndpoint), ("--iam-endpoint", iamEndpoint)] {
                if let value, ServiceEndpoint(value) == nil { throw UsageError("\(flag) \(value) is not an https:// URL") }
            }
            if cloudPollIntervalMs < 10 { throw UsageError("--cloud-poll-interval-ms must be at least 10") }
        }
    }

    func run() throws(Exit) {
        // Before any thread starts (gRPC's included): the signals are taken by sigwait below.
        TerminationSignals.block()
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "evs-csi-driver")
        let rules = RuleSettings(maxSnapshotsPerDisk: maxSnapshotsPerDisk, driverName: driverName)
        let configuration = DriverConfiguration(
            endpoint: endpoint, driverName: driverName, nodeID: nodeId, mode: mode, stateDirectory: stateDir,
            topologies: zones.map { let p = $0.split(separator: "/"); return Topology(region: String(p[0]), zone: String(p[1])) },
            rules: rules, maxVolumesPerNode: maxVolumesPerNode, socketMode: UInt32(socketMode, radix: 8)!,
            shutdownGrace: .seconds(shutdownGrace))
        var annotations: KubernetesPVCAnnotations?
        var publisher: KubernetesSettingsPublisher?
        if mode.servesController {
            do {
                let environment = processEnvironment()
                annotations = try KubernetesPVCAnnotations.forDriver(
                    kubeconfig: kubeconfig, environment: environment, timeout: .seconds(kubeApiTimeout))
                if annotations != nil {
                    publisher = try KubernetesSettingsPublisher.forDriver(kubeconfig: kubeconfig, environment: environment)
                }
            } catch {
                logger.critical("cannot use Kubernetes access to read PVC annotations: \(error)")
                throw Exit(1)
            }
        }
        let (backend, locator) = try openStorage(configuration, logger: logger)
        let driver: Driver
        do {
            driver = try Driver(configuration: configuration, backend: backend, locator: locator,
                                annotations: annotations, logger: logger)
            try driver.start()
        } catch {
            logger.critical("\(error)")
            switch error {
            case .configuration: throw Exit(64)
            case .backend: throw Exit(1)
            case .endpoint: throw Exit(2)
            }
        }
        if let publisher {
            // The plugin reads these (docs/rules.md "Settings"); without them it assumes EVEREST.md's defaults.
            do {
                try publisher.publish(rules)
                logger.info("published the rule settings on CSIDriver \(driverName)", metadata: [
                    "settings": "\(rules.publishedAnnotations.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))"])
            } catch {
                logger.warning("could not publish the rule settings on CSIDriver \(driverName); kubectl evssnap assumes the defaults: \(error)")
            }
        }
        let signal = TerminationSignals.wait()
        logger.info("signal \(signal): shutting down")
        if !driver.shutdown() {
            // Threads are still inside handlers: exit now, without the process's exit-time teardown under them.
            fflush(nil)
            _exit(0)
        }
    }

    /// The storage of this process: the emulator, opened (and reconciled) by the process that serves the
    /// Controller service; a node-only process must not roll back a create the controller has in flight, so it
    /// takes image paths from the publish context alone. A second backend is wired here.
    func openStorage(_ configuration: DriverConfiguration, logger: Logger) throws(Exit)
        -> (backend: (any BlockStorageBackend)?, locator: (any NodeDiskLocator)?) {
        if self.backend == .evs {
            let locator = EVSNodeLocator()
            guard mode.servesController else { return (nil, locator) }
            do {
                let storage = try CloudWiring.backend(
                    topologies: configuration.topologies, rules: configuration.rules,
                    maxVolumesPerNode: configuration.maxVolumesPerNode, projectID: projectId ?? "",
                    credentialsPath: cloudCredentials ?? "", evs: evsEndpoint, ecs: ecsEndpoint, iam: iamEndpoint,
                    caFile: cloudCaFile, pollInterval: .milliseconds(cloudPollIntervalMs))
                logger.info("backend evs", metadata: ["project": "\(projectId ?? "")"])
                return (storage, locator)
            } catch {
                logger.critical("--backend evs: \(error)")
                throw Exit(1)
            }
        }
        // The emulator attaches disks only to nodes that exist, as EVS attaches only to servers that exist: a
        // node plugin registers its node id in the state directory it shares with the controller, and so does a
        // controller given --node-id (docs/emulator.md "Nodes").
        if !configuration.nodeID.isEmpty {
            do {
                try NodeRegistry(stateDirectory: stateDir).register(configuration.nodeID)
            } catch {
                logger.critical("cannot register node \(configuration.nodeID) in the state directory \(stateDir): \(error)")
                throw Exit(1)
            }
        }
        guard mode.servesController else { return (nil, EmulatorNodeLocator(stateDirectory: stateDir)) }
        let emulator: EVSEmulator
        do {
            try FileAccess.makeDirectories(stateDir)
            emulator = try EVSEmulator(configuration: EmulatorConfiguration(
                stateDirectory: stateDir, topologies: configuration.topologies, rules: configuration.rules,
                maxAttachmentsPerNode: configuration.maxVolumesPerNode))
        } catch {
            logger.critical("cannot open the state directory \(stateDir): \(error)")
            throw Exit(1)
        }
        if !emulator.openReport.isEmpty {
            logger.notice("reconciled state left by an earlier run", metadata: ["report": "\(emulator.openReport)"])
        }
        return (emulator, emulator)
    }
}

/// The process environment (Foundation-free `ProcessInfo.processInfo.environment`).
func processEnvironment() -> [String: String] {
    var result: [String: String] = [:]
    var cursor: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> = environ
    while let entry = cursor.pointee {
        let text = String(cString: entry)
        if let equals = text.firstIndex(of: "=") {
            result[String(text[..<equals])] = String(text[text.index(after: equals)...])
        }
        cursor += 1
    }
    return result
}

/// `--backend`.
enum BackendKind: String, CaseIterable {
    case emulator, evs
}

/// The process's exit code, thrown out of `run`.
struct Exit: Error {
    var code: Int32
    init(_ code: Int32) { self.code = code }
}

let usageLine = "Usage: \(EVSCSIDriver.commandName) [<options>]\n  See '\(EVSCSIDriver.commandName) --help' for more information.\n"
do {
    switch try Flags.parse(Array(CommandLine.arguments.dropFirst()), specs: EVSCSIDriver.flags) {
    case .help:
        print(Flags.help(command: EVSCSIDriver.commandName, abstract: EVSCSIDriver.abstract,
                         discussion: EVSCSIDriver.discussion, specs: EVSCSIDriver.flags), terminator: "")
    case .version:
        print(DriverConfiguration.vendorVersion)
    case .run(let flags):
        try EVSCSIDriver.read(flags).run()
    }
} catch let error as UsageError {
    printError("Error: \(error.message)\n\(usageLine)")
    exit(64)
} catch let error as Exit {
    exit(error.code)
} catch {
    printError("Error: \(error)\n")
    exit(1)
}
