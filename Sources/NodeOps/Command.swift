#if canImport(Glibc)
import Glibc
#endif

/// The output of one external command that exited.
struct CommandResult: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs every external command NodeOps needs (blkid, mkfs.*, resize2fs, xfs_growfs) with `posix_spawn`, a fixed
/// PATH and `LC_ALL=C`, stdin from /dev/null, capturing stdout and stderr (both drained with `poll`, so neither
/// pipe can fill up and block the child). Foundation-free.
enum Command {
    /// Directories searched for a tool, in order.
    static let searchPath = ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/local/bin"]

    /// Runs `tool args...` and returns its status and output; throws `commandFailed` (status -1) only when
    /// the tool cannot be found or started. `run(_:_:)` is the throwing variant for status != 0.
    /// The status is the exit code, or 128 + the signal number if the tool was killed by a signal.
    static func capture(_ tool: String, _ arguments: [String]) throws -> CommandResult {
        let rendered = ([tool] + arguments).joined(separator: " ")
        guard let executable = locate(tool) else {
            throw NodeOpsError.commandFailed(command: rendered, stderr: "\(tool): not found in \(searchPath.joined(separator: ":"))", status: -1)
        }
        func cannotStart(_ what: String, _ code: Int32) -> NodeOpsError {
            .commandFailed(command: rendered, stderr: "cannot start: \(what): \(String(cString: strerror(code)))", status: -1)
        }
        // Socket pairs made close-on-exec atomically (pipe2 is not importable here): a command spawned by another
        // thread at the same moment must not inherit our write ends, or our reads would wait for it to exit.
        var outPipe: [Int32] = [-1, -1]
        var errPipe: [Int32] = [-1, -1]
        let kind = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        guard socketpair(AF_UNIX, kind, 0, &outPipe) == 0 else { throw cannotStart("socketpair", errno) }
        guard socketpair(AF_UNIX, kind, 0, &errPipe) == 0 else {
            let code = errno
            close(outPipe[0]); close(outPipe[1])
            throw cannotStart("socketpair", code)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The driver blocks SIGTERM/SIGINT in every thread (they are taken with sigwait): the child must not inherit that.
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = [executable] + arguments
        let environment = ["PATH=" + searchPath.joined(separator: ":"), "LC_ALL=C"]
        var pid: pid_t = 0
        let spawned = withCStrings(argv) { cArgv in
            withCStrings(environment) { cEnv in posix_spawn(&pid, executable, &actions, &attributes, cArgv, cEnv) }
        }
        close(outPipe[1])
        close(errPipe[1])
        defer { close(outPipe[0]); close(errPipe[0]) }
        guard spawned == 0 else { throw cannotStart(executable, spawned) }

        let (stdout, stderr) = drain(outPipe[0], errPipe[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { break }
        }
        let exitCode: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return CommandResult(status: exitCode, stdout: String(decoding: stdout, as: UTF8.self),
                             stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// Reads both descriptors to end of file.
    private static func drain(_ out: Int32, _ err: Int32) -> ([UInt8], [UInt8]) {
        var buffers: [[UInt8]] = [[], []]
        var fds = [pollfd(fd: out, events: Int16(POLLIN), revents: 0), pollfd(fd: err, events: Int16(POLLIN), revents: 0)]
        var chunk = [UInt8](repeating: 0, count: 65536)
        while fds.contains(where: { $0.fd >= 0 }) {
            let ready = poll(&fds, nfds_t(fds.count), -1)
            if ready < 0 {
                if errno == EINTR { continue }
                break
            }
            for index in fds.indices where fds[index].fd >= 0 && fds[index].revents != 0 {
                let n = chunk.withUnsafeMutableBytes { read(fds[index].fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    buffers[index].append(contentsOf: chunk[0..<n])
                } else if n == 0 || errno != EINTR {
                    fds[index].fd = -1  // end of file or error: poll ignores negative descriptors
                }
            }
        }
        return (buffers[0], buffers[1])
    }

    /// Calls `body` with a NULL-terminated C array of the strings (alive for the duration of the call).
    private static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        let copies = strings.map { strdup($0) }
        defer { copies.forEach { free($0) } }
        return (copies + [nil]).withUnsafeBufferPointer { body($0.baseAddress!) }
    }

    /// Runs `tool args...`; a non-zero exit becomes `commandFailed` with the captured stderr.
    @discardableResult
    static func run(_ tool: String, _ arguments: [String]) throws -> CommandResult {
        let result = try capture(tool, arguments)
        guard result.status == 0 else {
            throw NodeOpsError.commandFailed(
                command: ([tool] + arguments).joined(separator: " "),
                stderr: result.stderr.isEmpty ? result.stdout : result.stderr,
                status: result.status)
        }
        return result
    }

    static func locate(_ tool: String) -> String? {
        if tool.hasPrefix("/") { return access(tool, X_OK) == 0 ? tool : nil }
        for dir in searchPath where access(dir + "/" + tool, X_OK) == 0 {
            return dir + "/" + tool
        }
        return nil
    }
}
