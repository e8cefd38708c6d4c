import ArgumentParser
import Foundation
import TimeCore

/// The Kubernetes connection flags, named and worded as kubectl has them (one `@OptionGroup`).
public struct KubeOptions: ParsableArguments, Sendable {
    @Option(help: "Path to the kubeconfig file to use for CLI requests.")
    public var kubeconfig: String?

    @Option(help: "The name of the kubeconfig context to use.")
    public var context: String?

    @Option(help: "The name of the kubeconfig cluster to use.")
    public var cluster: String?

    @Option(help: "The name of the kubeconfig user to use.")
    public var user: String?

    @Option(name: [.customShort("n"), .long], help: "If present, the namespace scope for this CLI request.")
    public var namespace: String?

    @Option(name: .customLong("request-timeout"),
            help: "The length of time to wait before giving up on a single server request (e.g. 1s, 2m, 3h); 0 means no timeout.")
    public var requestTimeout: KubeDuration = KubeDuration(seconds: 0)

    @Flag(name: .customLong("insecure-skip-tls-verify"),
          help: "If true, the server's certificate will not be checked for validity. This will make your HTTPS connections insecure.")
    public var insecureSkipTLSVerify = false

    @Option(name: .customShort("v"), help: ArgumentHelp("Number for the log level verbosity (6 logs each request).", valueName: "level"))
    public var verbosity: Int = 0

    public init() {}
}

/// A duration written as Kubernetes/Go does (`30s`, `5m`, `1h30m`, `500ms`, `1.5h`; a bare number is seconds).
public struct KubeDuration: ExpressibleByArgument, Sendable, Hashable, CustomStringConvertible {
    /// Length in seconds.
    public var seconds: Double

    public init(seconds: Double) { self.seconds = seconds }

    /// Go's duration syntax through TimeCore's one duration parser; a bare number is seconds.
    public init?(argument: String) {
        guard let duration = DurationText.parse(argument, bareNumberIsSeconds: true) else { return nil }
        self.seconds = DurationText.seconds(duration)
    }

    public var description: String {
        let s = Int(seconds)
        if Double(s) != seconds { return "\(seconds)s" }
        if s == 0 { return "0s" }
        if s % 3600 == 0 { return "\(s / 3600)h" }
        if s % 60 == 0 { return "\(s / 60)m" }
        return "\(s)s"
    }

    public var defaultValueDescription: String { description }
}

extension DryRun: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument) }
}

/// `-o` of the commands that write an object (create, restore).
public enum WriteOutputFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case yaml, json, name
}

/// `-o` of `list`.
public enum ListOutputFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case wide, json, yaml, name
}
