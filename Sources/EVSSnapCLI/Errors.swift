/// The plugin's exit codes (documented in `kubectl evssnap --help` and plugin/README.md).
public enum ExitStatus: Int32, Sendable, CaseIterable {
    /// Done.
    case success = 0
    /// A runtime or API error (including a failed `--wait`).
    case failure = 1
    /// Refused by an Everest rule (R1-R14) before anything was changed, or a `check` that found a violation.
    case refused = 2
    /// Usage error: unknown flag, missing argument, bad value.
    case usage = 64
}

/// A failure of a command, mapped to one line on stderr and an exit status.
public enum CLIError: Error, Sendable, Equatable, CustomStringConvertible {
    /// An Everest rule forbids the request; `rule` is its id (`R5`), `message` starts with it and says what to do.
    case refused(rule: String, message: String)
    /// A runtime failure (timeout, a snapshot that failed, no kubeconfig): one actionable line.
    case runtime(String)
    /// An error status from the API server.
    case api(APIError)

    /// The exit status this error ends the command with.
    public var exitStatus: ExitStatus {
        switch self {
        case .refused: return .refused
        case .runtime, .api: return .failure
        }
    }

    /// The rule id of a refusal, nil otherwise.
    public var rule: String? {
        if case .refused(let r, _) = self { return r }
        return nil
    }

    /// The line printed on stderr.
    public var description: String {
        switch self {
        case .refused(_, let m): return "error: \(m)"
        case .runtime(let m): return "error: \(m)"
        case .api(let e): return e.description
        }
    }
}
