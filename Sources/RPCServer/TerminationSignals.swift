import Glibc

/// SIGTERM/SIGINT handling for an executable that runs a server: block them first, wait later.
public enum TerminationSignals {
    private static func set() -> sigset_t {
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGINT)
        return signals
    }

    /// Blocks SIGTERM and SIGINT in the calling thread; threads started afterwards inherit the mask.
    /// Call it first thing in `main`, before any server or client exists (before `grpc_init` starts
    /// the core's threads), so that no other thread takes the signal.
    public static func block() {
        var signals = set()
        let rc = pthread_sigmask(SIG_BLOCK, &signals, nil)
        precondition(rc == 0, "pthread_sigmask failed: \(rc)")
    }

    /// Waits for SIGTERM or SIGINT (blocked by `block()`) and returns its number.
    public static func wait() -> Int32 {
        var signals = set()
        var received: Int32 = 0
        while true {
            let rc = sigwait(&signals, &received)
            if rc == 0 { return received }
            precondition(rc == EINTR, "sigwait failed: \(rc)")
        }
    }
}
