import Foundation

extension EVSSnapMain {
    /// The environment of the real binary: stdout/stderr, the wall clock, and a connection from the kubeconfig.
    public static func liveEnvironment() -> CommandEnvironment {
        CommandEnvironment(console: .standard, connect: { options in try await LiveCluster.connect(options) })
    }
}

/// Connects to the cluster the kubeconfig flags name.
enum LiveCluster {
    static func connect(_ options: KubeOptions) async throws -> ClusterConnection {
        throw CLIError.runtime("no Kubernetes client linked yet")
    }
}
