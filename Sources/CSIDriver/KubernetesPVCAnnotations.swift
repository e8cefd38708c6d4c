import HTTPTransport
import JSONCore
import KubeCore

/// PVC annotations read from the Kubernetes API, for Everest's "PVC annotation wins" (see `PVCAnnotationSource`).
/// One GET per CreateVolume that names a PVC, over `HTTPTransport` (libcurl, loaded on first use: a node plugin,
/// which never looks a PVC up, never maps it).
///
/// Bounded waiting (issue 9): every GET ends by the RPC's deadline and by `timeout` (default 10 s), whichever
/// comes first; a hung API server costs one handler thread for at most that long and never the whole driver.
public final class KubernetesPVCAnnotations: PVCAnnotationSource {
    public let access: KubeAccess
    private let transport: HTTPTransport

    /// `timeout` bounds each GET when the RPC's deadline is later or absent (at most 10 s: issue 9).
    public init(access: KubeAccess, timeout: Duration = .seconds(10)) {
        self.access = access
        transport = HTTPTransport(configuration: .init(
            tls: access.tls, authorization: access.authorization, defaultTimeout: min(timeout, .seconds(10)),
            connectTimeout: .seconds(5), maxResponseBytes: 4 << 20,
            defaultHeaders: [HTTPHeader("Accept", "application/json"), HTTPHeader("User-Agent", "evs-csi-driver")]))
    }

    public func annotations(namespace: String, name: String, deadline: ContinuousClock.Instant?) throws -> [String: String]? {
        // Object names are DNS-1123 subdomains or labels: nothing needs escaping, and anything else cannot exist.
        for (what, value) in [("namespace", namespace), ("name", name)] where !Self.isObjectName(value) {
            throw DriverError.invalidField(field: "parameters[csi.storage.k8s.io/pvc/\(what)]",
                                           reason: "\(value.debugDescription) is not a Kubernetes object name")
        }
        let path = ResourceType.persistentVolumeClaims.path(namespace: namespace, name: name)
        let url = KubeREST.url(server: access.server, path: path)
        let response: HTTPResponse
        // Which limit ended the GET: the call's deadline when it comes before the default timeout and the timeout
        // came at it. libcurl counts whole milliseconds and may give up a hair before the deadline instant, so
        // "at it" allows 50 ms (reading `deadline <= .now` alone raced: UNAVAILABLE once in 16, issue 9's test).
        let deadlineBinds = deadline.map { $0 <= .now + transport.configuration.defaultTimeout } ?? false
        do {
            response = try transport.send(HTTPRequest(url: url, deadline: deadline))
        } catch .timeout(let message) {
            if let deadline, deadlineBinds, deadline <= .now + .milliseconds(50) {
                throw DriverError.deadlineExceededDuring("reading PVC \(namespace)/\(name) from the Kubernetes API: \(message)")
            }
            throw DriverError.kubernetesUnavailable("reading PVC \(namespace)/\(name): the API server did not answer in time (\(message))")
        } catch {
            throw DriverError.kubernetesUnavailable("reading PVC \(namespace)/\(name): \(error)")
        }
        if response.status == 404 { return nil }
        do {
            try KubeREST.check(status: response.status, body: response.body, method: "GET", path: path,
                               resource: ResourceType.persistentVolumeClaims.qualifiedName, name: name)
        } catch {
            throw DriverError.kubernetesUnavailable("reading PVC \(namespace)/\(name): HTTP \(response.status): \(error)")
        }
        let object: JSON
        do { object = try JSON.parse(response.body) } catch {
            throw DriverError.kubernetesUnavailable("reading PVC \(namespace)/\(name): the answer is not JSON (\(error))")
        }
        return object["metadata"]["annotations"].stringMap
    }

    static func isObjectName(_ value: String) -> Bool {
        !value.isEmpty && value.utf8.count <= 253 && value.utf8.allSatisfy {
            ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9"))
                || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".")
        }
    }
}

extension KubernetesPVCAnnotations {
    /// Kubernetes access for the driver: `kubeconfig` when given (an error if it cannot be used), else the
    /// in-cluster service account when running in a pod, else none (nil: the driver works from StorageClass
    /// parameters alone and says so once in its log).
    /// When there is access, libcurl is loaded now: a driver that was given Kubernetes access but cannot use it
    /// (an image without libcurl, e.g. the node image serving the controller) stops at start with the loader's
    /// message, instead of ignoring every PVC annotation later.
    public static func forDriver(kubeconfig: String?, environment: [String: String],
                                 timeout: Duration = .seconds(10)) throws -> KubernetesPVCAnnotations? {
        guard let access = try DriverKubernetesAccess.access(kubeconfig: kubeconfig, environment: environment) else {
            return nil
        }
        do {
            try HTTPTransport.load()
        } catch {
            throw KubeAccessError("\(error); the controller needs libcurl for HTTPS to the API server "
                                  + "(the controller image, localhost/evssnap/evs-csi-driver-controller, has it)")
        }
        return KubernetesPVCAnnotations(access: access, timeout: timeout)
    }
}
