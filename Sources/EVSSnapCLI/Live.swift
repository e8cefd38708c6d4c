import Foundation

extension EVSSnapMain {
    /// The environment of the real binary: the given output streams (default stdout/stderr), the wall clock,
    /// and a connection built from the kubeconfig flags by `KubeClient`.
    public static func liveEnvironment(console: Console = .standard, pollInterval: Duration = .seconds(1)) -> CommandEnvironment {
        CommandEnvironment(console: console, connect: { options in try await LiveCluster.connect(options, console: console) },
                           pollInterval: pollInterval)
    }
}
