import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Where a command writes text. Injected so that every command can be tested without a terminal.
public protocol TextSink: Sendable {
    /// Writes `text` as is (callers add newlines).
    func write(_ text: String)
}

/// Standard output or standard error of the process, written with write(2).
///
/// A reader that goes away early (`kubectl evssnap list -A | head -3`) makes write(2) fail with EPIPE: the
/// NIO-based client ignores SIGPIPE for its sockets, so the signal no longer ends the process. The sink then
/// does what a Go program such as kubectl does on a broken stdout or stderr: it ends the process by SIGPIPE,
/// quietly (no message, no backtrace; the shell sees status 141).
public struct FileHandleSink: TextSink {
    let fd: Int32
    /// Standard output.
    public static let standardOutput = FileHandleSink(fd: 1)
    /// Standard error.
    public static let standardError = FileHandleSink(fd: 2)
    public func write(_ text: String) {
        var text = text
        text.withUTF8 { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n >= 0 { offset += n; continue }
                switch errno {
                case EINTR, EAGAIN: continue
                case EPIPE: FileHandleSink.endByBrokenPipe()
                default: return  // nowhere left to report it
                }
            }
        }
    }

    /// Ends the process as an unhandled SIGPIPE does (Go's runtime does the same for fd 1 and 2).
    static func endByBrokenPipe() -> Never {
        signal(SIGPIPE, SIG_DFL)
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGPIPE)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        raise(SIGPIPE)
        _exit(128 + SIGPIPE)
    }
}

/// Collects text in memory (tests, and buffering a whole table before printing).
public final class BufferSink: TextSink {
    // Guards the collected text; any thread may write or read.
    private let buffer = Mutex("")
    public init() {}
    public func write(_ text: String) { buffer.withLock { $0 += text } }
    /// Everything written so far.
    public var text: String { buffer.withLock { $0 } }
}

/// The two output streams of a command and whether stdout is a terminal (for ✔/✘ versus ASCII).
public struct Console: Sendable {
    /// Results: tables, objects, names.
    public var out: any TextSink
    /// Progress, warnings and errors.
    public var err: any TextSink
    /// Whether `out` is a terminal; decides the check marks.
    public var isTerminal: Bool

    public init(out: any TextSink, err: any TextSink, isTerminal: Bool) {
        self.out = out
        self.err = err
        self.isTerminal = isTerminal
    }

    /// The process's stdout and stderr.
    public static var standard: Console {
        Console(out: FileHandleSink.standardOutput, err: FileHandleSink.standardError, isTerminal: isatty(1) == 1)
    }

    /// Writes one line on stdout.
    public func print(_ line: String) { out.write(line + "\n") }
    /// Writes one line on stderr.
    public func printError(_ line: String) { err.write(line + "\n") }
    /// `Warning: ...` on stderr, as kubectl writes API warnings.
    public func warn(_ message: String) { err.write("Warning: \(message)\n") }
}
