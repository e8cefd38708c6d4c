import ArgumentParser
import Foundation

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

/// A duration written as Kubernetes/Go does (`30s`, `5m`, `1h30m`, `500ms`; a bare number is seconds).
public struct KubeDuration: ExpressibleByArgument, Sendable, Hashable, CustomStringConvertible {
    /// Length in seconds.
    public var seconds: Double

    public init(seconds: Double) { self.seconds = seconds }

    public init?(argument: String) {
        if let n = Double(argument), n >= 0 { self.seconds = n; return }
        var total = 0.0
        var number = ""
        var rest = Substring(argument)
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            number = ""
            while let c = rest.first, c.isNumber || c == "." { number.append(c); rest.removeFirst() }
            guard let value = Double(number) else { return nil }
            var unit = ""
            while let c = rest.first, c.isLetter { unit.append(c); rest.removeFirst() }
            let factor: Double
            switch unit {
            case "ms": factor = 0.001
            case "s": factor = 1
            case "m": factor = 60
            case "h": factor = 3600
            default: return nil
            }
            total += value * factor
        }
        self.seconds = total
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
