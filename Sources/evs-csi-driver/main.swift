// evs-csi-driver: flags -> DriverConfiguration -> storage backend -> Driver -> wait for SIGTERM/SIGINT.
// The one place that picks the storage: the services see only `BlockStorageBackend` and `NodeDiskLocator`.
//
// Exit codes: 0 stopped by SIGTERM/SIGINT after a graceful shutdown; 1 the state directory could not be
// opened or the Kubernetes access (--kubeconfig) is unusable; 2 the endpoint cannot be used (directory missing, socket held by a live server, bind failed);
// 64 usage error (bad or conflicting flags).
import ArgumentParser
import CSIDriver
import EVSEmulator
import EVSSnapshotRules
import Foundation
import Logging
import RPCServer

struct EVSCSIDriver: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evs-csi-driver",
        abstract: "A CSI driver that plays Huawei EVS + the Everest CSI add-on on an embedded emulator.",
        discussion: """
            Exit codes: 0 graceful stop (SIGTERM/SIGINT); 1 state directory or --kubeconfig unusable; \
            2 endpoint unusable (directory missing, socket held by a live server, bind failed); 64 usage error.
            """,
        version: DriverConfiguration.vendorVersion)

    @Option(help: "CSI endpoint: unix:///path/csi.sock or tcp://host:port.")
    var endpoint = "unix:///csi/csi.sock"

    @Option(help: "Name the driver registers under.")
    var driverName = EverestNames.driverName

    @Option(help: "This node's id (required with --mode node or all).")
    var nodeId = ProcessInfo.processInfo.environment["NODE_ID"] ?? ""

    @Option(help: "Services to serve: controller, node or all.")
    var mode: DriverConfiguration.Mode = .all

    @Option(help: "The emulator's state directory (metadata and disk images).")
    var stateDir = "/var/lib/evssnap"

    @Option(name: .customLong("zone"), help: "An availability zone as region/zone (repeatable); the first is this node's.")
    var zones: [String] = ["cn-north-4/cn-north-4a"]

    @Option(help: "Most snapshots per disk (rule R5); published on the CSIDriver object for kubectl evssnap.")
    var maxSnapshotsPerDisk = 7

    @Option(help: "EVS's attach limit per server.")
    var maxVolumesPerNode = 59

    @Option(help: "Unix socket file mode, octal.")
    var socketMode = "0660"

    @Option(help: "Seconds calls in flight may run after SIGTERM before they are cancelled.")
    var shutdownGrace = 10

    @Option(help: "Kubeconfig to read PVC annotations with (default: the in-cluster service account inside a pod, else none).")
    var kubeconfig: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func validate() throws {
        guard UInt32(socketMode, radix: 8) != nil else { throw ValidationError("--socket-mode must be octal, e.g. 0660") }
        for zone in zones where zone.split(separator: "/").count != 2 {
            throw ValidationError("--zone \(zone) is not region/zone, e.g. cn-north-4/cn-north-4a")
        }
        if maxSnapshotsPerDisk < 1 { throw ValidationError("--max-snapshots-per-disk must be at least 1") }
        if maxVolumesPerNode < 1 { throw ValidationError("--max-volumes-per-node must be at least 1") }
    }

    func run() throws {
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
                let environment = ProcessInfo.processInfo.environment
                annotations = try KubernetesPVCAnnotations.forDriver(kubeconfig: kubeconfig, environment: environment)
                if annotations != nil {
                    publisher = try KubernetesSettingsPublisher.forDriver(kubeconfig: kubeconfig, environment: environment)
                }
            } catch {
                logger.critical("cannot use Kubernetes access to read PVC annotations: \(error)")
                throw ExitCode(1)
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
            case .configuration: throw ExitCode(64)
            case .backend: throw ExitCode(1)
            case .endpoint: throw ExitCode(2)
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
        driver.shutdown()
    }

    /// The storage of this process: the emulator, opened (and reconciled) by the process that serves the
    /// Controller service; a node-only process must not roll back a create the controller has in flight, so it
    /// takes image paths from the publish context alone. A second backend is wired here.
    func openStorage(_ configuration: DriverConfiguration, logger: Logger) throws
        -> (backend: (any BlockStorageBackend)?, locator: (any NodeDiskLocator)?) {
        guard mode.servesController else { return (nil, EmulatorNodeLocator()) }
        let emulator: EVSEmulator
        do {
            try FileManager.default.createDirectory(atPath: stateDir, withIntermediateDirectories: true)
            emulator = try EVSEmulator(configuration: EmulatorConfiguration(
                stateDirectory: stateDir, topologies: configuration.topologies, rules: configuration.rules,
                maxAttachmentsPerNode: configuration.maxVolumesPerNode))
        } catch {
            logger.critical("cannot open the state directory \(stateDir): \(error)")
            throw ExitCode(1)
        }
        if !emulator.openReport.isEmpty {
            logger.notice("reconciled state left by an earlier run", metadata: ["report": "\(emulator.openReport)"])
        }
        return (emulator, emulator)
    }
}

extension DriverConfiguration.Mode: ExpressibleByArgument {}
extension Logger.Level: @retroactive ExpressibleByArgument {}

EVSCSIDriver.main()
