import Dispatch
import EVSSnapshotRules
import Foundation
import KubeClient
import Synchronization

/// Publishes the driver's effective rule settings where `kubectl evssnap` reads them: as annotations of the
/// driver's CSIDriver object (`RuleSettings.publishedAnnotations`, docs/rules.md "Settings"), with one JSON
/// merge patch. Needs `get` and `patch` on that CSIDriver (deploy/rbac.yaml).
public final class KubernetesSettingsPublisher: Sendable {
    private let client: KubeClient

    /// Connects with `config` (loaded like kubectl: `--kubeconfig`, KUBECONFIG, ~/.kube/config, in-cluster).
    public init(config: ClientConfig) throws {
        client = try KubeClient(config: config, options: .init(userAgent: "evs-csi-driver", warningHandler: { _ in }))
    }

    /// Merges `settings.publishedAnnotations` into the annotations of CSIDriver `settings.driverName`, waiting
    /// at most `timeout`. Throws when the object is missing, access is refused, or the wait runs out.
    public func publish(_ settings: RuleSettings, timeout: Duration = .seconds(10)) throws {
        let annotations = settings.publishedAnnotations.mapValues { JSONValue.string($0) }
        let patch = JSONValue.object(["metadata": .object(["annotations": .object(annotations)])])
        let body = try JSONEncoder().encode(patch)
        let path = ResourceType.csiDrivers.path(namespace: nil, name: settings.driverName)
        let result = Mutex<(any Error)??>(nil)
        let done = DispatchSemaphore(value: 0)
        let client = self.client
        let task = Task {
            var outcome: (any Error)?
            do {
                _ = try await client.send(method: "PATCH", path: path, body: body, contentType: "application/merge-patch+json",
                                          resource: ResourceType.csiDrivers.qualifiedName, name: settings.driverName)
            } catch {
                outcome = error
            }
            result.withLock { $0 = .some(outcome) }
            done.signal()
        }
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        guard done.wait(timeout: .now() + seconds) == .success else {
            task.cancel()
            throw KubeClientError.timeout(url: path, seconds: seconds)
        }
        if let error = result.withLock({ $0 }) ?? nil { throw error }
    }
}

extension KubernetesSettingsPublisher {
    /// The driver's Kubernetes access (`DriverKubernetesAccess`), or nil without any.
    public static func forDriver(kubeconfig: String?, environment: [String: String]) throws -> KubernetesSettingsPublisher? {
        try DriverKubernetesAccess.config(kubeconfig: kubeconfig, environment: environment).map(KubernetesSettingsPublisher.init(config:))
    }
}

/// Where the driver's Kubernetes access comes from: `kubeconfig` when given (an error if it cannot be used), else
/// the in-cluster service account when running in a pod, else none (nil).
public enum DriverKubernetesAccess {
    /// The client configuration, or nil without Kubernetes access.
    public static func config(kubeconfig: String?, environment: [String: String]) throws -> ClientConfig? {
        if let kubeconfig { return try ClientConfig.load(ConfigOverrides(kubeconfig: kubeconfig)) }
        guard environment["KUBERNETES_SERVICE_HOST"] != nil else { return nil }
        return try ClientConfig.load(ConfigOverrides())
    }
}
