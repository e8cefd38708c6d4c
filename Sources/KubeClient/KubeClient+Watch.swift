// Watch: a collection as a stream of events (each line decoded by KubeCore's KubeREST.decodeWatchLine).
import Foundation
import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

extension KubeClient {
    /// Watches a collection (`?watch=1`). ERROR events become a thrown ``KubeAPIError`` (410 Expired: list again).
    /// The stream ends when the server closes the watch; cancel the consuming task to stop early.
    /// `namespace` nil on a namespaced resource means the configured namespace, unless `allNamespaces`.
    public func watch(_ resource: ResourceType, namespace: String? = nil, allNamespaces: Bool = false,
                      options: ListOptions = ListOptions()) -> AsyncThrowingStream<WatchEvent, Error> {
        let ns = allNamespaces || !resource.namespaced ? nil : (namespace ?? config.namespace)
        let query = [URLQueryItem(name: "watch", value: "1")] + options.queryItems.map { URLQueryItem(name: $0.name, value: $0.value) }
        let path = resource.path(namespace: ns)
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    let (req, shown) = try await self.makeRequest(method: "GET", path: path, query: query, body: nil,
                                                            contentType: "application/json", accept: "application/json",
                                                            forceExecRefresh: false)
                    let response = try await self.http.execute(req, deadline: .distantFuture)
                    self.log(6, "GET \(shown) \(response.status.code) \(response.status.reasonPhrase) (watch)")
                    let code = Int(response.status.code)
                    guard (200..<300).contains(code) else {
                        var buf = try await response.body.collect(upTo: 1 << 20)
                        throw KubeAPIError.from(httpStatus: code, body: buf.readBytes(length: buf.readableBytes) ?? [],
                                                method: "GET", path: path, resource: resource.qualifiedName)
                    }
                    var pending: [UInt8] = []
                    for try await chunk in response.body {
                        pending.append(contentsOf: chunk.readableBytesView)
                        while let nl = pending.firstIndex(of: UInt8(ascii: "\n")) {
                            let line = Array(pending[..<nl])
                            pending.removeSubrange(...nl)
                            if line.isEmpty { continue }
                            self.log(8, "Watch Event: \(String(decoding: line, as: UTF8.self))")
                            continuation.yield(try KubeREST.decodeWatchLine(line, path: path))
                        }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
