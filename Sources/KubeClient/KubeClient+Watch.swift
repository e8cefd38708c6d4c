// Watch: a collection as a stream of events, and the decoding of one watch line.
import Foundation
import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

extension KubeClient {
    /// Watches a collection (`?watch=1`). ERROR events become a thrown ``KubeAPIError`` (410 Expired: list again).
    /// The stream ends when the server closes the watch; cancel the consuming task to stop early.
    public func watch<T: Codable & Sendable>(_ type: T.Type, _ resource: ResourceType, namespace: String? = nil,
                                             allNamespaces: Bool = false,
                                             options: ListOptions = ListOptions()) -> AsyncThrowingStream<WatchEvent<T>, Error> {
        let ns = allNamespaces ? nil : namespaceFor(resource, namespace)
        let query = [URLQueryItem(name: "watch", value: "1")] + options.queryItems
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
                        throw KubeAPIError.from(httpStatus: code, body: Data(buf.readBytes(length: buf.readableBytes) ?? []),
                                                method: "GET", path: path, resource: resource.qualifiedName)
                    }
                    var pending = Data()
                    for try await chunk in response.body {
                        pending.append(contentsOf: chunk.readableBytesView)
                        while let nl = pending.firstIndex(of: UInt8(ascii: "\n")) {
                            let line = pending[pending.startIndex..<nl]
                            pending = Data(pending[pending.index(after: nl)...])
                            if line.isEmpty { continue }
                            self.log(8, "Watch Event: \(String(decoding: line, as: UTF8.self))")
                            continuation.yield(try KubeClient.decodeWatchLine(Data(line), as: T.self, path: path))
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

    /// Decodes one watch line `{"type":..., "object":...}`; ERROR events throw the Status as ``KubeAPIError``.
    public static func decodeWatchLine<T: Codable & Sendable>(_ line: Data, as: T.Type, path: String = "") throws -> WatchEvent<T> {
        let env: WatchTypeEnvelope
        do { env = try JSONDecoder().decode(WatchTypeEnvelope.self, from: line) } catch {
            throw KubeClientError.decoding(what: "watch event", reason: "\(error)")
        }
        if env.type == "ERROR" {
            let st = (try? JSONDecoder().decode(WatchObjectEnvelope<Status>.self, from: line).object) ?? Status(message: "watch error", reason: "Unknown")
            throw KubeAPIError(httpStatus: st.code ?? 500, status: st, isStatusObject: true, method: "GET", path: path)
        }
        do {
            let t = try JSONDecoder().decode(WatchObjectEnvelope<T>.self, from: line)
            return WatchEvent(type: t.type, object: t.object)
        } catch {
            throw KubeClientError.decoding(what: "watch event \(env.type)", reason: "\(error)")
        }
    }
}

/// `{"type": ...}` of a watch line.
struct WatchTypeEnvelope: Decodable { var type: String }
/// `{"type": ..., "object": ...}` of a watch line.
struct WatchObjectEnvelope<T: Decodable>: Decodable { var type: String; var object: T }
