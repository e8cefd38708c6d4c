// rpc-bench: a closed-loop load generator for unary calls on RPCClient, and a tiny echo server
// so that the gRPC layer can be measured alone (the baseline every handler is compared against).
import Dispatch
@preconcurrency import Glibc
import Foundation
import RPCServer
import Synchronization

let usage = """
    usage: rpc-bench [--endpoint E | --self-echo] [--method PATH] [--payload-file FILE]
                     [--in-flight 1,16,64] [--duration SECONDS | --calls N] [--warmup N]
                     [--server-pid PID] [--compare-echo] [--client-threads N]
           rpc-bench --serve-echo ENDPOINT [--method PATH] [--cq-threads N] [--handler-threads N] [--max-queued N]
           rpc-bench --startup --endpoint unix:///path [--runs N] [--method PATH] -- COMMAND [ARGS...]

      --endpoint E        server to load (unix:///path or tcp://host:port)
      --self-echo         load an in-process echo server (the default without --endpoint)
      --method PATH       method path (default /rpcbench.Echo/Echo)
      --payload-file F    raw request bytes (default: empty message)
      --in-flight LIST    concurrent calls per level (default 1,16,64)
      --duration S        seconds per level (default 5), or --calls N per level
      --server-pid PID    sample VmRSS and open fds of PID before and after
      --compare-echo      also run the in-process echo baseline and print ratios to it
      --serve-echo E      serve the echo method on E until SIGINT/SIGTERM; also /rpcbench.Slow/Hold (an echo
                          that blocks its handler thread while the server is held), /rpcbench.Slow/Arm (hold),
                          /rpcbench.Slow/Release (let every held call finish) and /rpcbench.Slow/Ping (an echo on
                          the queue thread, like the driver's Probe): for the bounded-queue memory test
      --max-queued N      calls that may wait for a busy handler thread (default: the server's default)
      --startup           start COMMAND N times (default 5); each time, time from exec to the first OK answer
                          to --method (default /csi.v1.Identity/Probe) on the unix socket of --endpoint, then
                          SIGTERM it; prints every run and the median
    """

struct Options {
    var endpoint: String?
    var method = "/rpcbench.Echo/Echo"
    var payload: [UInt8] = []
    var inFlight = [1, 16, 64]
    var duration: Duration? = .seconds(5)
    var calls: Int?
    var warmup = 1000
    var serverPID: Int32?
    var compareEcho = false
    var clientThreads = 1
    var serveEcho: String?
    var cqThreads = 2
    var handlerThreads = 4
    var maxQueued = RPCServer.Configuration.defaultMaxQueuedCalls
    var startupCommand: [String]?
    var runs = 5
    var methodGiven = false
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("rpc-bench: \(message)\n".utf8))
    exit(64)
}

func parse(_ arguments: [String]) -> Options {
    var options = Options()
    var index = 0
    func value(_ flag: String) -> String {
        index += 1
        guard index < arguments.count else { fail("\(flag) needs a value") }
        return arguments[index]
    }
    func integer(_ flag: String) -> Int {
        let text = value(flag)
        guard let number = Int(text), number >= 0 else { fail("\(flag): not a count: \(text)") }
        return number
    }
    while index < arguments.count {
        let flag = arguments[index]
        switch flag {
        case "--endpoint": options.endpoint = value(flag)
        case "--self-echo": options.endpoint = nil
        case "--method": options.method = value(flag); options.methodGiven = true
        case "--startup": options.startupCommand = []
        case "--runs": options.runs = max(1, integer(flag))
        case "--":
            options.startupCommand = Array(arguments[(index + 1)...])
            index = arguments.count
            continue
        case "--payload-file":
            let path = value(flag)
            guard let data = FileManager.default.contents(atPath: path) else { fail("cannot read \(path)") }
            options.payload = [UInt8](data)
        case "--in-flight":
            let list = value(flag).split(separator: ",").map { Int($0) }
            guard !list.isEmpty, list.allSatisfy({ ($0 ?? 0) > 0 }) else { fail("--in-flight wants a list like 1,16,64") }
            options.inFlight = list.map { $0! }
        case "--duration":
            let text = value(flag)
            guard let seconds = Double(text.hasSuffix("s") ? String(text.dropLast()) : text), seconds > 0 else {
                fail("--duration: not a number of seconds: \(text)")
            }
            options.duration = .milliseconds(Int64(seconds * 1000))
            options.calls = nil
        case "--calls":
            options.calls = integer(flag)
            options.duration = nil
        case "--warmup": options.warmup = integer(flag)
        case "--server-pid": options.serverPID = Int32(integer(flag))
        case "--compare-echo": options.compareEcho = true
        case "--client-threads": options.clientThreads = max(1, integer(flag))
        case "--serve-echo": options.serveEcho = value(flag)
        case "--cq-threads": options.cqThreads = max(1, integer(flag))
        case "--handler-threads": options.handlerThreads = max(1, integer(flag))
        case "--max-queued": options.maxQueued = integer(flag)
        case "-h", "--help":
            print(usage)
            exit(0)
        default: fail("unknown argument \(flag)\n\(usage)")
        }
        index += 1
    }
    return options
}

// MARK: - Process sampling

struct ProcessSample {
    var rssKiB: Int
    var fds: Int

    init?(pid: Int32) {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kib = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? ""),
            let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count
        else { return nil }
        rssKiB = kib
        self.fds = fds
        // utime and stime are fields 14 and 15 of /proc/PID/stat, counted after the ")" ending the name.
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        cpuSeconds = (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// User plus system CPU time of the whole process so far.
    var cpuSeconds: Double = 0

    var text: String { "VmRSS \(rssKiB) KiB, \(fds) fds" }
}

// MARK: - Load

struct LevelResult {
    var inFlight: Int
    var calls: Int
    var errors: Int
    var firstError: RPCStatus?
    var seconds: Double
    var latenciesNs: [UInt64]  // sorted

    var rate: Double { Double(calls) / seconds }

    func percentileMs(_ p: Double) -> Double {
        guard !latenciesNs.isEmpty else { return .nan }
        let rank = min(latenciesNs.count - 1, Int((p / 100 * Double(latenciesNs.count)).rounded(.up)) - 1)
        return Double(latenciesNs[max(0, rank)]) / 1e6
    }
}

/// Shared by the lanes of one level; completions arrive on the client's queue thread(s).
final class Recorder: Sendable {
    struct State {
        var latencies: [UInt64] = []
        var errors = 0
        var firstError: RPCStatus?
    }
    let state = Mutex(State())
    let issued = Atomic<Int>(0)
}

func elapsedNs(since start: ContinuousClock.Instant) -> UInt64 {
    let (seconds, attoseconds) = (ContinuousClock.now - start).components
    return UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds) / 1_000_000_000)
}

func runLevel(client: RPCClient, options: Options, inFlight: Int, calls: Int?, duration: Duration?, record: Bool)
    -> LevelResult
{
    let recorder = Recorder()
    let lanesDone = DispatchSemaphore(value: 0)
    let begin = ContinuousClock.now
    let end = duration.map { begin + $0 }
    let method = options.method
    let payload = options.payload

    @Sendable func shouldIssue() -> Bool {
        if let calls { return recorder.issued.add(1, ordering: .relaxed).oldValue < calls }
        return ContinuousClock.now < end!
    }
    @Sendable func issue() {
        guard shouldIssue() else {
            lanesDone.signal()
            return
        }
        let start = ContinuousClock.now
        client.start(method, request: payload, timeout: .seconds(30)) { response in
            let latency = elapsedNs(since: start)
            recorder.state.withLock { state in
                if response.status.code == .ok {
                    if record { state.latencies.append(latency) }
                } else {
                    state.errors += 1
                    if state.firstError == nil { state.firstError = response.status }
                }
            }
            issue()
        }
    }
    for _ in 0..<inFlight { issue() }
    for _ in 0..<inFlight { lanesDone.wait() }
    let seconds = Double(elapsedNs(since: begin)) / 1e9
    let state = recorder.state.withLock { $0 }
    return LevelResult(
        inFlight: inFlight, calls: state.latencies.count + state.errors, errors: state.errors,
        firstError: state.firstError, seconds: seconds, latenciesNs: state.latencies.sorted())
}

func measure(endpoint: String, options: Options, label: String) -> [LevelResult] {
    let client: RPCClient
    do {
        client = try RPCClient(endpoint: endpoint, completionQueueThreads: options.clientThreads)
    } catch {
        fail("\(error)")
    }
    defer { client.close() }
    print("\(label): \(endpoint) method \(options.method), request \(options.payload.count) bytes")
    if let pid = options.serverPID, let sample = ProcessSample(pid: pid) {
        print("  server pid \(pid) before: \(sample.text)")
    }
    let cpuColumn = options.serverPID == nil ? "" : "  srv CPU us/call"
    print("  in-flight     calls  errors     calls/s    p50 ms    p99 ms  p99.9 ms" + cpuColumn)
    var results: [LevelResult] = []
    for level in options.inFlight {
        if options.warmup > 0 {
            _ = runLevel(client: client, options: options, inFlight: level, calls: options.warmup, duration: nil, record: false)
        }
        let cpuBefore = options.serverPID.flatMap { ProcessSample(pid: $0) }
        let result = runLevel(
            client: client, options: options, inFlight: level, calls: options.calls, duration: options.duration, record: true)
        let cpuAfter = options.serverPID.flatMap { ProcessSample(pid: $0) }
        var cpuText = ""
        if let cpuBefore, let cpuAfter, result.calls > 0 {
            cpuText = " " + pad(String(format: "%.1f", (cpuAfter.cpuSeconds - cpuBefore.cpuSeconds) * 1e6 / Double(result.calls)), 16)
        }
        results.append(result)
        print(
            "  "
                + [
                    pad(String(level), 9), pad(String(result.calls), 9), pad(String(result.errors), 7),
                    pad(String(format: "%.0f", result.rate), 11), pad(String(format: "%.3f", result.percentileMs(50)), 9),
                    pad(String(format: "%.3f", result.percentileMs(99)), 9), pad(String(format: "%.3f", result.percentileMs(99.9)), 9),
                ].joined(separator: " ") + cpuText)
        if let error = result.firstError { print("    first error: \(error)") }
        fflush(stdout)
    }
    if let pid = options.serverPID, let sample = ProcessSample(pid: pid) {
        print("  server pid \(pid) after:  \(sample.text)")
    }
    return results
}

func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
}

// MARK: - Echo server

/// While true, /rpcbench.Slow/Hold keeps its handler thread (polling every millisecond), so that a test can fill
/// the handler pool and the queue behind it and watch what the server does with every further call.
let holding = Atomic<Bool>(false)

func makeEchoServer(endpoint: String, options: Options) -> RPCServer {
    do {
        let server = try RPCServer(
            configuration: .init(
                endpoint: endpoint, completionQueueThreads: options.cqThreads, handlerThreads: options.handlerThreads,
                maxQueuedCalls: options.maxQueued))
        server.register(options.method) { _, request in request }
        server.register("/rpcbench.Slow/Hold") { _, request in
            while holding.load(ordering: .acquiring) { usleep(1_000) }
            return request
        }
        server.register("/rpcbench.Slow/Arm", lane: .inline) { _, _ in
            holding.store(true, ordering: .releasing)
            return []
        }
        server.register("/rpcbench.Slow/Ping", lane: .inline) { _, request in request }
        server.register("/rpcbench.Slow/Release", lane: .inline) { _, _ in
            holding.store(false, ordering: .releasing)
            return []
        }
        try server.start()
        return server
    } catch {
        fail("\(error)")
    }
}

// MARK: - Main

let options = parse(Array(CommandLine.arguments.dropFirst()))

// MARK: - Start-up time

/// Exec to the first OK answer, in milliseconds: waits for the socket file (0.2 ms polls), then calls until OK
/// (each attempt on a new channel, so no reconnect back-off is measured).
func measureStartup(command: [String], endpoint: String, method: String) -> Double {
    guard endpoint.hasPrefix("unix://") else { fail("--startup needs a unix:// endpoint") }
    let path = String(endpoint.dropFirst("unix://".count))
    unlink(path)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: command[0])
    process.arguments = Array(command.dropFirst())
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    let start = ContinuousClock.now
    do { try process.run() } catch { fail("cannot start \(command[0]): \(error)") }
    var served: Duration?
    while served == nil, ContinuousClock.now - start < .seconds(30) {
        if access(path, F_OK) != 0 {
            usleep(200)
            continue
        }
        guard let client = try? RPCClient(endpoint: endpoint) else { fail("bad endpoint \(endpoint)") }
        let response = client.callBlocking(method, request: [], timeout: .milliseconds(500))
        client.close()
        if response.status.code == .ok { served = ContinuousClock.now - start } else { usleep(200) }
    }
    process.terminate()
    process.waitUntilExit()
    unlink(path)
    guard let served else { fail("\(command[0]) did not answer \(method) within 30 s") }
    let (seconds, attoseconds) = served.components
    return Double(seconds) * 1000 + Double(attoseconds) / 1e15
}

if let command = options.startupCommand {
    guard !command.isEmpty, let endpoint = options.endpoint else { fail("--startup needs --endpoint and -- COMMAND") }
    let method = options.methodGiven ? options.method : "/csi.v1.Identity/Probe"
    var times: [Double] = []
    for _ in 0..<options.runs {
        times.append(measureStartup(command: command, endpoint: endpoint, method: method))
    }
    let sorted = times.sorted()
    print("startup \(URL(fileURLWithPath: command[0]).lastPathComponent): exec to a served \(method): median "
        + String(format: "%.1f", sorted[sorted.count / 2]) + " ms (runs: "
        + times.map { String(format: "%.1f", $0) }.joined(separator: ", ") + ")")
    exit(0)
}

if let endpoint = options.serveEcho {
    TerminationSignals.block()
    let server = makeEchoServer(endpoint: endpoint, options: options)
    print("rpc-bench: echo server pid \(getpid()) on \(endpoint) method \(options.method)")
    fflush(stdout)
    let signal = TerminationSignals.wait()
    print("rpc-bench: signal \(signal), shutting down")
    server.shutdown(grace: .seconds(5))
    exit(0)
}

func selfEcho(_ options: Options, label: String) -> [LevelResult] {
    let endpoint = "unix:///tmp/rpc-bench-\(getpid()).sock"
    let server = makeEchoServer(endpoint: endpoint, options: options)
    defer { server.shutdown(grace: .seconds(5)) }
    var own = options
    own.serverPID = getpid()
    return measure(endpoint: endpoint, options: own, label: label)
}

if let endpoint = options.endpoint {
    let results = measure(endpoint: endpoint, options: options, label: "target")
    if options.compareEcho {
        let baseline = selfEcho(options, label: "baseline (in-process echo)")
        print("ratio target/baseline:")
        print("  in-flight   calls/s    p50    p99  p99.9")
        for (target, base) in zip(results, baseline) {
            print(
                "  " + pad(String(target.inFlight), 9) + " "
                    + [target.rate / base.rate, target.percentileMs(50) / base.percentileMs(50),
                        target.percentileMs(99) / base.percentileMs(99), target.percentileMs(99.9) / base.percentileMs(99.9)]
                    .map { pad(String(format: "%.2f", $0), 6) }.joined(separator: " "))
        }
    }
} else {
    _ = selfEcho(options, label: "in-process echo")
}
