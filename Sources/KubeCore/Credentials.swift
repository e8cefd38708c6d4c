import FileBytes
import Synchronization

/// The bearer token a request carries, from ``ClientConfig/Credentials``: `tokenFile` (re-read at most once a
/// minute, as client-go does: Kubernetes rotates projected service-account tokens in place) wins over `token`.
/// Every token it hands out is registered with the ``Redactor``.
public final class BearerTokenSource: Sendable {
    public let staticToken: String?
    public let tokenFile: String?
    /// The file's token and when it was read. Guarded by the mutex; read and refreshed by any task.
    private let cache = Mutex<(token: String, readAt: ContinuousClock.Instant)?>(nil)

    public init(_ credentials: ClientConfig.Credentials) {
        staticToken = credentials.token
        tokenFile = credentials.tokenFile
        if let t = staticToken { Redactor.shared.register(t) }
    }

    /// The token to send now, or nil for none.
    public func token() throws(KubeClientError) -> String? {
        guard let path = tokenFile else { return staticToken }
        let now = ContinuousClock.now
        if let cached = cache.withLock({ $0 }), now - cached.readAt < .seconds(60) { return cached.token }
        guard let bytes = try? FileBytes.read(path) else { throw KubeClientError.unreadableFile(what: "tokenFile", path: path) }
        let t = Text.trimmed(String(decoding: bytes, as: UTF8.self))
        Redactor.shared.register(t)
        cache.withLock { $0 = (t, now) }
        return t
    }
}
