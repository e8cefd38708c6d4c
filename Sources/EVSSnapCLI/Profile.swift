import Foundation
import Synchronization

/// Step timings for `make bench-plugin`'s profile: with `EVSSNAP_PROFILE=1` in the environment each command
/// prints, on stderr at its end, how long each step took (kubeconfig and client set-up, every request, JSON
/// parsing, rendering), and the time from process start to `main`. Off, it costs one environment lookup.
enum Profile {
    static let enabled = ProcessInfo.processInfo.environment["EVSSNAP_PROFILE"] == "1"
    private static let steps = Mutex<[(String, Double)]>([])

    /// Runs `body`, recording its duration under `name` when profiling.
    static func step<T>(_ name: @autoclosure () -> String, _ body: () async throws -> T) async rethrows -> T {
        guard enabled else { return try await body() }
        let start = ContinuousClock.now
        defer { record(name(), since: start) }
        return try await body()
    }

    static func record(_ name: @autoclosure () -> String, since start: ContinuousClock.Instant) {
        guard enabled else { return }
        let name = name()
        let d = ContinuousClock.now - start
        let ms = Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
        steps.withLock { $0.append((name, ms)) }
    }

    /// Milliseconds from the process's start (its `starttime` in /proc/self/stat) to now.
    static func sinceProcessStart() -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // Field 22 (starttime) is the 20th after the command name.
        guard fields.count > 19, let ticks = Double(fields[19]),
              let uptimeText = try? String(contentsOfFile: "/proc/uptime", encoding: .utf8),
              let uptime = Double(uptimeText.split(separator: " ")[0]) else { return nil }
        let hz = Double(sysconf(Int32(_SC_CLK_TCK)))
        return (uptime - ticks / hz) * 1000
    }

    /// The recorded steps as one stderr block.
    static func report(to console: Console) {
        guard enabled else { return }
        var lines = steps.withLock { $0 }.map { String(format: "profile: %8.1f ms  %@", $1, $0) }
        if let t = startToMain { lines.insert(String(format: "profile: %8.1f ms  process start to main (exec, dynamic linking)", t), at: 0) }
        console.err.write(lines.joined(separator: "\n") + "\n")
    }

    /// Set by `main` (see EVSSnapMain.run).
    nonisolated(unsafe) static var startToMain: Double?
}
