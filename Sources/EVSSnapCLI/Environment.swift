import Foundation

/// A connection to a cluster: the API and the namespace the kubeconfig context selects.
public struct ClusterConnection: Sendable {
    /// The API.
    public var api: any ClusterAPI
    /// The kubeconfig context's namespace, or `default`.
    public var defaultNamespace: String

    public init(api: any ClusterAPI, defaultNamespace: String) {
        self.api = api
        self.defaultNamespace = defaultNamespace
    }
}

/// Everything a command needs from outside: output streams, the cluster, the clock.
/// Commands receive it instead of reaching for globals, so tests run them against an in-memory cluster.
public struct CommandEnvironment: Sendable {
    /// Output streams.
    public var console: Console
    /// Opens a connection from the kubeconfig flags (called at most once per command).
    public var connect: @Sendable (KubeOptions) async throws -> ClusterConnection
    /// The current time (default names, AGE).
    public var now: @Sendable () -> Date
    /// Delay between two polls of `--wait`.
    public var pollInterval: Duration
    /// Width help text is wrapped to; nil = the terminal's (80 when not a terminal).
    public var helpColumns: Int?

    public init(
        console: Console,
        connect: @escaping @Sendable (KubeOptions) async throws -> ClusterConnection,
        now: @escaping @Sendable () -> Date = { Date() },
        pollInterval: Duration = .seconds(1),
        helpColumns: Int? = nil
    ) {
        self.helpColumns = helpColumns
        self.console = console
        self.connect = connect
        self.now = now
        self.pollInterval = pollInterval
    }
}
