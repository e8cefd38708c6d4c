import Foundation
import Synchronization

/// Where a command writes text. Injected so that every command can be tested without a terminal.
public protocol TextSink: Sendable {
    /// Writes `text` as is (callers add newlines).
    func write(_ text: String)
}

/// Standard output or standard error of the process.
public struct FileHandleSink: TextSink {
    let handle: FileHandle
    /// Standard output.
    public static let standardOutput = FileHandleSink(handle: .standardOutput)
    /// Standard error.
    public static let standardError = FileHandleSink(handle: .standardError)
    public func write(_ text: String) { handle.write(Data(text.utf8)) }
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
