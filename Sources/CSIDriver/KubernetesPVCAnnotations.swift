import Dispatch
import KubeClient
import Synchronization

/// PVC annotations read from the Kubernetes API (kubeconfig or in-cluster service account), for Everest's
/// "PVC annotation wins" (see `PVCAnnotationSource`). One GET per CreateVolume that names a PVC.
///
/// The handlers are synchronous and run on the RPC server's own handler threads (never on Swift's
/// cooperative pool), so waiting there for the async client is safe.
public final class KubernetesPVCAnnotations: PVCAnnotationSource {
    private let client: KubeClient

    /// Connects with `config` (loaded like kubectl: `--kubeconfig`, KUBECONFIG, ~/.kube/config, in-cluster).
    public init(config: ClientConfig) throws {
        client = try KubeClient(config: config, options: .init(userAgent: "evs-csi-driver", warningHandler: { _ in }))
    }

    public func annotations(namespace: String, name: String) throws -> [String: String]? {
        let result = Mutex<Result<[String: String]?, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let client = self.client
        Task {
            let outcome: Result<[String: String]?, any Error>
            do {
                let pvc = try await client.get(PersistentVolumeClaim.self, .persistentVolumeClaims, name: name, namespace: namespace)
                outcome = .success(pvc.metadata.annotations ?? [:])
            } catch let error as KubeAPIError where error.code == 404 {
                outcome = .success(nil)
            } catch {
                outcome = .failure(error)
            }
            result.withLock { $0 = outcome }
            done.signal()
        }
        done.wait()
        return try result.withLock { $0! }.get()
    }
}

extension KubernetesPVCAnnotations {
    /// Kubernetes access for the driver: `kubeconfig` when given (an error if it cannot be used), else the
    /// in-cluster service account when running in a pod, else none (nil: the driver works from StorageClass
    /// parameters alone and says so once in its log).
    public static func forDriver(kubeconfig: String?, environment: [String: String]) throws -> KubernetesPVCAnnotations? {
        try DriverKubernetesAccess.config(kubeconfig: kubeconfig, environment: environment).map(KubernetesPVCAnnotations.init(config:))
    }
}
