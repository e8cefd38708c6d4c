import EVSSnapshotRules
import HTTPTransport
import JSONCore
import KubeCore

/// Publishes the driver's effective rule settings where `kubectl evssnap` reads them: as annotations of the
/// driver's CSIDriver object (`RuleSettings.publishedAnnotations`, docs/rules.md "Settings"), with one JSON
/// merge patch over `HTTPTransport`. Needs `get` and `patch` on that CSIDriver (deploy/rbac.yaml).
public final class KubernetesSettingsPublisher: Sendable {
    public let access: KubeAccess
    private let transport: HTTPTransport

    public init(access: KubeAccess) {
        self.access = access
        transport = HTTPTransport(configuration: .init(
            tls: access.tls, authorization: access.authorization, defaultTimeout: .seconds(10),
            defaultHeaders: [HTTPHeader("Accept", "application/json"), HTTPHeader("User-Agent", "evs-csi-driver")]))
    }

    /// Merges `settings.publishedAnnotations` into the annotations of CSIDriver `settings.driverName`, waiting
    /// at most `timeout` (at most 10 s). Throws when the object is missing, access is refused, or the wait runs out.
    public func publish(_ settings: RuleSettings, timeout: Duration = .seconds(10)) throws {
        let members = settings.publishedAnnotations.sorted { $0.key < $1.key }
            .map { "\(JSON.quote($0.key)):\(JSON.quote($0.value))" }.joined(separator: ",")
        let body = Array("{\"metadata\":{\"annotations\":{\(members)}}}".utf8)
        guard KubernetesPVCAnnotations.isObjectName(settings.driverName) else {
            throw DriverError.invalidField(field: "--driver-name", reason: "\(settings.driverName) is not a Kubernetes object name")
        }
        let path = ResourceType.csiDrivers.path(name: settings.driverName)
        let url = KubeREST.url(server: access.server, path: path)
        let response: HTTPResponse
        do {
            response = try transport.send(HTTPRequest(
                method: "PATCH", url: url, headers: [HTTPHeader("Content-Type", "application/merge-patch+json")],
                body: body, timeout: min(timeout, .seconds(10))))
        } catch {
            throw DriverError.kubernetesUnavailable("publishing settings on CSIDriver \(settings.driverName): \(error)")
        }
        do {
            try KubeREST.check(status: response.status, body: response.body, method: "PATCH", path: path,
                               resource: ResourceType.csiDrivers.qualifiedName, name: settings.driverName)
        } catch {
            throw DriverError.kubernetesUnavailable(
                "publishing settings on CSIDriver \(settings.driverName): HTTP \(response.status): \(error)")
        }
    }
}

extension KubernetesSettingsPublisher {
    /// The driver's Kubernetes access (`DriverKubernetesAccess`), or nil without any.
    public static func forDriver(kubeconfig: String?, environment: [String: String]) throws -> KubernetesSettingsPublisher? {
        try DriverKubernetesAccess.access(kubeconfig: kubeconfig, environment: environment).map(KubernetesSettingsPublisher.init(access:))
    }
}

/// Where the driver's Kubernetes access comes from: `kubeconfig` when given (an error if it cannot be used), else
/// the in-cluster service account when running in a pod, else none (nil).
public enum DriverKubernetesAccess {
    public static func access(kubeconfig: String?, environment: [String: String]) throws -> KubeAccess? {
        if let kubeconfig { return try KubeAccess.kubeconfig(path: kubeconfig) }
        guard environment["KUBERNETES_SERVICE_HOST"] != nil else { return nil }
        return try KubeAccess.inCluster(environment: environment)
    }
}
