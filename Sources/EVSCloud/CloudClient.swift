// The authenticated, retrying HTTPS client for EVS, ECS and IAM.
// - Auth: AK/SK signing (Signer.swift), or an IAM token cached until shortly before it expires and fetched again
//   after a 401 (a token revoked or expired early).
// - Retries, within the call's deadline, with exponential backoff and jitter (Retry-After honoured):
//   429 always (the gateway refused the request, nothing ran); 5xx and transport failures only for requests that
//   are safe to repeat (GET, DELETE, and POSTs the caller marks so). A POST that creates something is not repeated
//   here: the backend looks for what the first attempt may have made (by the driver's metadata tag) before posting
//   again, so a create is never done twice.
// - Errors are parsed from the published bodies: EVS/ECS `{"error": {"message", "code"}}`, the API gateway's
//   `{"error_msg", "error_code", "request_id"}`, Keystone's `{"error": {"code": 401, "message", "title"}}`.
import HTTPTransport
import JSONCore
import Synchronization

/// Everything the cloud backend needs to reach the APIs.
public struct CloudConfiguration: Sendable {
    /// The EVS endpoint, e.g. `https://evs.cn-north-4.myhuaweicloud.com`.
    public var evs: ServiceEndpoint
    /// The ECS endpoint, e.g. `https://ecs.cn-north-4.myhuaweicloud.com`.
    public var ecs: ServiceEndpoint
    /// The IAM endpoint, e.g. `https://iam.cn-north-4.myhuaweicloud.com` (used with password credentials).
    public var iam: ServiceEndpoint
    /// The project (tenant) id of the region.
    public var projectID: String
    /// Credentials.
    public var credentials: CloudCredentials
    /// A token is fetched again when it expires within this margin.
    public var tokenRefreshMargin: Duration
    /// The time a call may take when the gRPC call carries no deadline.
    public var defaultCallBudget: Duration
    /// First backoff delay; doubled per attempt up to `maxBackoff`.
    public var initialBackoff: Duration
    /// Largest backoff delay.
    public var maxBackoff: Duration
    /// How often an asynchronous job or a status change is polled.
    public var pollInterval: Duration
    /// The longest single HTTP exchange.
    public var requestTimeout: Duration

    /// Creates a configuration with defaults for the real cloud.
    public init(evs: ServiceEndpoint, ecs: ServiceEndpoint, iam: ServiceEndpoint, projectID: String,
                credentials: CloudCredentials, tokenRefreshMargin: Duration = .seconds(600),
                defaultCallBudget: Duration = .seconds(60), initialBackoff: Duration = .milliseconds(200),
                maxBackoff: Duration = .seconds(5), pollInterval: Duration = .seconds(1),
                requestTimeout: Duration = .seconds(30)) {
        self.evs = evs; self.ecs = ecs; self.iam = iam; self.projectID = projectID; self.credentials = credentials
        self.tokenRefreshMargin = tokenRefreshMargin; self.defaultCallBudget = defaultCallBudget
        self.initialBackoff = initialBackoff; self.maxBackoff = maxBackoff; self.pollInterval = pollInterval
        self.requestTimeout = requestTimeout
    }
}

/// A failed cloud call, with what the API said. Never carries credentials, tokens or request headers.
public enum CloudAPIError: Error, Sendable, CustomStringConvertible {
    /// The API answered with an error status and body.
    case api(operation: String, status: Int, code: String, message: String)
    /// No HTTP answer (connection, TLS, timeout).
    case transport(operation: String, message: String)
    /// The deadline passed before the call succeeded; `last` says what the last attempt got.
    case deadline(operation: String, last: String)
    /// The credentials were refused (IAM or the gateway).
    case authentication(operation: String, detail: String)
    /// The answer did not have the published shape.
    case malformed(operation: String, detail: String)

    public var description: String {
        switch self {
        case .api(let op, let status, let code, let message): "\(op): HTTP \(status) \(code): \(message)"
        case .transport(let op, let message): "\(op): no answer: \(message)"
        case .deadline(let op, let last): "\(op): did not succeed within the call's deadline (last: \(last))"
        case .authentication(let op, let detail): "\(op): authentication refused: \(detail)"
        case .malformed(let op, let detail): "\(op): unexpected answer: \(detail)"
        }
    }

    /// The EVS/ECS/gateway error code, if the API gave one.
    public var code: String? { if case .api(_, _, let code, _) = self { code } else { nil } }
    /// The HTTP status, if any.
    public var status: Int? { if case .api(_, let status, _, _) = self { status } else { nil } }
    /// EVS's "no such object": 404, or EVS.5404 whatever the status.
    public var isNotFound: Bool { code == "EVS.5404" || status == 404 }
    /// Whether trying again later may succeed (throttling, server errors, no answer).
    public var isTransient: Bool {
        switch self {
        case .api(_, let status, _, _): status == 429 || status >= 500
        case .transport, .deadline: true
        case .authentication, .malformed: false
        }
    }
}

/// Which service a request goes to.
public enum CloudService: String, Sendable {
    case evs, ecs, iam
}

/// The HTTPS client: auth, retries, error bodies.
public final class CloudClient: Sendable {
    /// The configuration.
    public let configuration: CloudConfiguration
    /// The driver's HTTP client (libcurl); each request carries its own timeout and the call's deadline.
    let transport: HTTPTransport
    private let token = Mutex<CachedToken?>(nil)
    /// Counts for tests and logs: tokens fetched, retries made.
    private let counters = Mutex<Counters>(Counters())

    struct CachedToken {
        var value: String
        var expiresAt: Int64
    }

    /// What the client has done so far.
    public struct Counters: Sendable, Equatable {
        /// Tokens obtained from IAM.
        public var tokensFetched = 0
        /// Requests repeated after 429, 5xx or no answer.
        public var retries = 0
        /// Requests repeated after a 401 with a fresh token.
        public var reauthentications = 0
    }

    /// A client over `transport`.
    public init(configuration: CloudConfiguration, transport: HTTPTransport) {
        self.configuration = configuration
        self.transport = transport
    }

    /// What the client has done so far.
    public var stats: Counters { counters.withLock { $0 } }

    private func endpoint(_ service: CloudService) -> ServiceEndpoint {
        switch service {
        case .evs: configuration.evs
        case .ecs: configuration.ecs
        case .iam: configuration.iam
        }
    }

    /// Sends a JSON request and returns the parsed body (`.null` for an empty one) of a 2xx answer.
    /// `repeatable`: the request may be sent again after a 5xx or no answer (GET and DELETE always are).
    public func call(_ service: CloudService, _ method: String, _ path: String, query: [(String, String)] = [],
                     body: JSON? = nil, repeatable: Bool = false, operation: String,
                     budget: CallBudget) throws(CloudAPIError) -> JSON {
        let response = try exchange(service, method, path, query: query, body: body,
                                    repeatable: repeatable || method == "GET" || method == "DELETE",
                                    operation: operation, budget: budget)
        if response.body.isEmpty { return .null }
        do {
            return try JSON.parse(response.body)
        } catch {
            throw .malformed(operation: operation, detail: "\(error)")
        }
    }

    func exchange(_ service: CloudService, _ method: String, _ path: String, query: [(String, String)], body: JSON?,
                  repeatable: Bool, operation: String, budget: CallBudget) throws(CloudAPIError) -> HTTPResponse {
        var attempt = 0
        // The value of `attempt` when this exchange last fetched a fresh token after a 401; nil before any.
        var reauthenticatedAt: Int? = nil
        var last = "no attempt"
        while true {
            if budget.isExpired { throw .deadline(operation: operation, last: last) }
            var request = HTTPRequest(method: method, endpoint: endpoint(service), path: path, query: query,
                                      headers: [HTTPHeader("Content-Type", "application/json;charset=utf8")],
                                      body: body?.serialized() ?? [], timeout: configuration.requestTimeout,
                                      deadline: budget.deadline)
            request = try authorize(request, budget: budget, operation: operation)
            let response: HTTPResponse
            do {
                response = try transport.send(request)
            } catch {
                last = error.description
                if !repeatable { throw .transport(operation: operation, message: error.description) }
                try backoff(&attempt, retryAfter: nil, budget: budget, operation: operation, last: last)
                continue
            }
            if response.isSuccess { return response }
            let failure = Self.parseError(response, operation: operation)
            last = failure.description
            if response.status == 401, case .password = configuration.credentials,
               reauthenticatedAt.map({ attempt > $0 }) ?? true {
                // The token expired or was revoked before its expires_at: get another one. A token fetched for this
                // exchange and refused on its first use means the credentials are wrong (give up below); one that
                // waited through a backoff (429, 5xx) since may have been revoked meanwhile, so it is replaced again.
                let used = request.header("X-Auth-Token")
                // Only the rejected token is dropped: another request may already have cached a fresh one.
                token.withLock { if $0?.value == used { $0 = nil } }
                reauthenticatedAt = attempt
                counters.withLock { $0.reauthentications += 1 }
                continue
            }
            if response.status == 401 || response.status == 403 && failure.code?.hasPrefix("APIGW") == true {
                throw .authentication(operation: operation, detail: failure.description)
            }
            if response.status == 429 || (response.status >= 500 && repeatable) {
                let retryAfter = response.header("Retry-After").flatMap { Int($0) }.map { Duration.seconds($0) }
                try backoff(&attempt, retryAfter: retryAfter, budget: budget, operation: operation, last: last)
                continue
            }
            throw failure
        }
    }

    private func backoff(_ attempt: inout Int, retryAfter: Duration?, budget: CallBudget, operation: String,
                         last: String) throws(CloudAPIError) {
        var delay = configuration.initialBackoff
        for _ in 0..<min(attempt, 16) { delay = min(delay * 2, configuration.maxBackoff) }
        // Full jitter in [delay/2, delay], so that many callers do not retry in step.
        let half = delay / 2
        delay = half + half * Double.random(in: 0...1)
        if let retryAfter { delay = max(delay, retryAfter) }
        attempt += 1
        if delay >= budget.remaining { throw .deadline(operation: operation, last: last) }
        counters.withLock { $0.retries += 1 }
        sleepFor(delay)
    }

    /// Waits `configuration.pollInterval`, or throws when that would pass the deadline.
    func pause(budget: CallBudget, operation: String, last: String) throws(CloudAPIError) {
        let delay = configuration.pollInterval
        if delay >= budget.remaining { throw .deadline(operation: operation, last: last) }
        sleepFor(delay)
    }

    // MARK: Auth

    private func authorize(_ request: HTTPRequest, budget: CallBudget, operation: String) throws(CloudAPIError) -> HTTPRequest {
        var request = request
        switch configuration.credentials {
        case .accessKey(let ak, let sk, let securityToken):
            request.headers.append(HTTPHeader("X-Project-Id", configuration.projectID))
            if let securityToken { request.headers.append(HTTPHeader("X-Security-Token", securityToken)) }
            return AKSKSigner(accessKey: ak, secretKey: sk).sign(request, now: WallClock.now())
        case .password:
            request.headers.append(HTTPHeader("X-Auth-Token", try currentToken(budget: budget, operation: operation)))
            return request
        }
    }

    /// A project-scoped IAM token, fetched when none is cached or the cached one expires within the margin.
    func currentToken(budget: CallBudget, operation: String) throws(CloudAPIError) -> String {
        let margin = configuration.tokenRefreshMargin.components.seconds
        if let cached = token.withLock({ $0 }), cached.expiresAt - margin > WallClock.now() { return cached.value }
        let fresh = try fetchToken(budget: budget, operation: operation)
        token.withLock { $0 = fresh }
        return fresh.value
    }

    private func fetchToken(budget: CallBudget, operation: String) throws(CloudAPIError) -> CachedToken {
        guard case .password(let user, let password, let domain) = configuration.credentials else {
            throw .authentication(operation: operation, detail: "no IAM user configured")
        }
        let body: JSON = ["auth": [
            "identity": ["methods": ["password"],
                         "password": ["user": ["name": .string(user), "password": .string(password),
                                               "domain": ["name": .string(domain)]]]],
            "scope": ["project": ["id": .string(configuration.projectID)]],
        ]]
        var attempt = 0
        var last = "no attempt"
        let op = "IAM POST /v3/auth/tokens (for \(operation))"
        while true {
            if budget.isExpired { throw .deadline(operation: op, last: last) }
            let request = HTTPRequest(method: "POST", endpoint: configuration.iam, path: "/v3/auth/tokens",
                                      headers: [HTTPHeader("Content-Type", "application/json;charset=utf8")],
                                      body: body.serialized(), timeout: configuration.requestTimeout,
                                      deadline: budget.deadline)
            let response: HTTPResponse
            do {
                response = try transport.send(request)
            } catch {
                last = error.description
                try backoff(&attempt, retryAfter: nil, budget: budget, operation: op, last: last)
                continue
            }
            if response.status == 201 || response.status == 200 {
                guard let value = response.header("X-Subject-Token"), !value.isEmpty else {
                    throw .malformed(operation: op, detail: "no X-Subject-Token header")
                }
                let parsed = try? JSON.parse(response.body)
                guard let expires = parsed?["token"]["expires_at"].string,
                      let seconds = WallClock.parseISO8601(expires)?.seconds else {
                    throw .malformed(operation: op, detail: "no token.expires_at, or not an ISO 8601 time")
                }
                counters.withLock { $0.tokensFetched += 1 }
                return CachedToken(value: value, expiresAt: seconds)
            }
            let failure = Self.parseError(response, operation: op)
            last = failure.description
            if response.status == 429 || response.status >= 500 {
                try backoff(&attempt, retryAfter: nil, budget: budget, operation: op, last: last)
                continue
            }
            throw .authentication(operation: op, detail: failure.description)
        }
    }

    // MARK: Errors

    /// The error an error answer states, from whichever published body shape it has.
    static func parseError(_ response: HTTPResponse, operation: String) -> CloudAPIError {
        let json = try? JSON.parse(response.body)
        var code = "HTTP.\(response.status)"
        var message = String(decoding: response.body.prefix(200), as: UTF8.self)
        if let json {
            if let c = json["error_code"].string {
                code = c
                message = json["error_msg"].string ?? message
            } else if let object = json.object, let inner = object["error"] ?? object.values.first(where: { $0["message"].string != nil }) {
                if let c = inner["code"].string { code = c } else if let n = inner["code"].int { code = "HTTP.\(n)" }
                message = inner["message"].string ?? message
            }
        }
        return .api(operation: operation, status: response.status, code: code, message: message)
    }
}

