// evs-bench-data: data-path and metadata benchmarks of the EVS emulator (`make bench-data`).
//
// 1. Snapshot and restore time of a sparse 10 GiB disk holding 0, 100 MiB and 1 GiB of data, on the default
//    file system (the directory in $EVS_BENCH_DIR, default /tmp) and on a reflink xfs loop file system that
//    the benchmark makes and removes (root only), each beside `cp --reflink=auto --sparse=always` of the same
//    file, printed as ratios. Target: reflink snapshot < 50 ms whatever the data; elsewhere within 1.5x of cp.
// 2. createSnapshot and listSnapshots latency with 10,000 snapshots stored against 10. Target: within 2x.
// Page cache is not dropped between runs (that would disturb other users of the machine), so copies read
// warm data; dirty data is flushed (sync) before each timed operation. The emulator fsyncs what it writes
// (durableWrites), cp does not: "cp+fsync" is shown too, and the default fs is also run with durableWrites off.
import Dispatch
import EVSEmulator
import EVSSnapshotRules
import Foundation
import Glibc

// MARK: Helpers

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
func ms(_ nanoseconds: UInt64) -> Double { Double(nanoseconds) / 1e6 }
func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? .nan : sorted[sorted.count / 2]
}
func fmt(_ value: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", value) }
func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}

@discardableResult
func shell(_ arguments: [String]) -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    do { try process.run() } catch { return (-1, "\(error)") }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

func makeTemporaryDirectory(in parent: String, _ prefix: String) -> String {
    var template = Array("\(parent)/\(prefix)-XXXXXX".utf8CString)
    guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
        fatalError("mkdtemp in \(parent) failed: errno \(errno)")
    }
    return String(cString: made)
}

/// Flushes all dirty data and waits a moment, so that each timed operation starts from clean page cache
/// state: this VM's disk slows down after a few GiB written in a row, which would otherwise be charged to
/// whichever operation happens to come later in a round.
/// Before each timed step: flush dirty data, and (as root) drop the page cache, so that every step, the cp
/// baseline included, reads its source from storage. Without the drop, whichever file happened to be cached
/// (the disk just filled, or the snapshot just written by copy_file_range, which leaves nothing cached) decided
/// the figure: the same 1 GiB copy measured 0.5 s from a cached source and 2.2-3.8 s from an uncached one.
func settle() {
    sync()
    if let fd = Optional(open("/proc/sys/vm/drop_caches", O_WRONLY)), fd >= 0 {
        _ = "3\n".withCString { write(fd, $0, 2) }
        close(fd)
    }
    usleep(400_000)
}

func fsyncFile(_ path: String) {
    let fd = open(path, O_RDONLY)
    if fd >= 0 { fsync(fd); close(fd) }
}

func blocksMiB(_ path: String) -> Double {
    var st = stat()
    guard stat(path, &st) == 0 else { return .nan }
    return Double(st.st_blocks) * 512 / 1048576
}

/// Writes `mebibytes` MiB of non-zero pseudo-random data in 1 MiB chunks spread evenly over `size` bytes.
func fillDisk(path: String, size: Int64, mebibytes: Int) {
    guard mebibytes > 0 else { return }
    let fd = open(path, O_WRONLY)
    precondition(fd >= 0, "open \(path)")
    defer { close(fd) }
    let chunk = 1 << 20
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 4096)
    defer { buffer.deallocate() }
    let words = buffer.bindMemory(to: UInt64.self)
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    let stride = max(Int64(chunk), (size / Int64(mebibytes)) & ~Int64(chunk - 1))
    for index in 0..<mebibytes {
        for word in 0..<words.count {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            words[word] = state | 1
        }
        let written = pwrite(fd, buffer.baseAddress, chunk, off_t(Int64(index) * stride))
        precondition(written == chunk, "pwrite \(path): errno \(errno)")
    }
    fsync(fd)
}

// MARK: Data path

struct DataRow {
    var fileSystem: String
    var dataMiB: Int
    var snapshotMs: Double
    var snapshotMethod: String
    var restoreMs: Double
    var cpMs: Double
    var cpFsyncMs: Double
    var snapshotMiB: Double
}

func benchData(directory: String, label: String, repetitions: Int, durable: Bool = true) throws -> [DataRow] {
    var rows: [DataRow] = []
    for dataMiB in [0, 100, 1024] {
        let state = directory + "/state-\(dataMiB)"
        let emulator = try EVSEmulator(configuration: EmulatorConfiguration(stateDirectory: state, durableWrites: durable))
        let disk = try emulator.createDisk(name: "bench-disk", spec: DiskSpec(capacityGiB: 10), source: nil)
        let diskPath = emulator.diskImagePath(disk.id)
        fillDisk(path: diskPath, size: 10 << 30, mebibytes: dataMiB)
        var snapshotTimes: [Double] = [], restoreTimes: [Double] = [], cpTimes: [Double] = [], cpSyncTimes: [Double] = []
        var method = "?"
        var snapshotMiB = 0.0
        for round in 0..<repetitions {
            settle()
            var start = now()
            let (snapshot, used) = try emulator.createSnapshotReportingMethod(name: "snap-\(round)", sourceDisk: disk.id)
            snapshotTimes.append(ms(now() - start))
            method = used?.rawValue ?? "existing"
            snapshotMiB = blocksMiB(emulator.snapshotImagePath(snapshot.id))
            settle()
            start = now()
            let restored = try emulator.createDisk(name: "restore-\(round)", spec: DiskSpec(capacityGiB: 10), source: snapshot.id)
            restoreTimes.append(ms(now() - start))
            try emulator.deleteDisk(restored.id)
            try emulator.deleteSnapshot(snapshot.id)

            let copy = directory + "/cp-\(dataMiB)-\(round).img"
            settle()
            start = now()
            let result = shell(["cp", "--reflink=auto", "--sparse=always", diskPath, copy])
            cpTimes.append(ms(now() - start))
            precondition(result.status == 0, "cp failed: \(result.output)")
            unlink(copy)
            settle()
            start = now()
            _ = shell(["cp", "--reflink=auto", "--sparse=always", diskPath, copy])
            fsyncFile(copy)
            cpSyncTimes.append(ms(now() - start))
            unlink(copy)
        }
        rows.append(DataRow(fileSystem: label, dataMiB: dataMiB, snapshotMs: median(snapshotTimes), snapshotMethod: method,
                            restoreMs: median(restoreTimes), cpMs: median(cpTimes), cpFsyncMs: median(cpSyncTimes),
                            snapshotMiB: snapshotMiB))
        try emulator.deleteDisk(disk.id)
        _ = consume emulator
        try? FileManager.default.removeItem(atPath: state)
    }
    return rows
}

func printDataRows(_ rows: [DataRow]) {
    print(pad("fs", 13) + pad("data", 9) + pad("method", 24) + pad("snapshot ms", 13) + pad("restore ms", 12)
          + pad("cp ms", 9) + pad("cp+fsync ms", 13) + pad("snap/cp", 9) + pad("restore/cp", 12) + pad("snap/(cp+fsync)", 16)
          + "snapshot MiB allocated")
    for row in rows {
        print(pad(row.fileSystem, 13) + pad("\(row.dataMiB) MiB", 9) + pad(row.snapshotMethod, 24)
              + pad(fmt(row.snapshotMs), 13) + pad(fmt(row.restoreMs), 12) + pad(fmt(row.cpMs), 9) + pad(fmt(row.cpFsyncMs), 13)
              + pad(fmt(row.snapshotMs / row.cpMs) + "x", 9) + pad(fmt(row.restoreMs / row.cpMs) + "x", 12)
              + pad(fmt(row.snapshotMs / row.cpFsyncMs) + "x", 16) + fmt(row.snapshotMiB, 1))
    }
}

// MARK: Metadata scale

struct ScaleResult {
    var stored: Int
    var createMs: Double
    var listFirstPageMs: Double
    var listByDiskMs: Double
    var listFromTokenMs: Double
}

func measureScale(_ emulator: EVSEmulator, disks: [Disk], stored: Int, samples: Int) throws -> ScaleResult {
    var creates: [Double] = [], firsts: [Double] = [], byDisk: [Double] = [], fromToken: [Double] = []
    let middle = try emulator.listSnapshots(snapshotID: nil, sourceDiskID: nil, maxEntries: stored / 2,
                                            startingToken: nil).nextToken
    for index in 0..<samples {
        var start = now()
        let snapshot = try emulator.createSnapshot(name: "probe-\(stored)-\(index)", sourceDisk: disks[index % disks.count].id)
        creates.append(ms(now() - start))
        try emulator.deleteSnapshot(snapshot.id)
        start = now()
        let page = try emulator.listSnapshots(snapshotID: nil, sourceDiskID: nil, maxEntries: 10, startingToken: nil)
        firsts.append(ms(now() - start))
        precondition(page.items.count == 10)
        start = now()
        let diskPage = try emulator.listSnapshots(snapshotID: nil, sourceDiskID: disks[0].id, maxEntries: 10, startingToken: nil)
        byDisk.append(ms(now() - start))
        precondition(diskPage.items.count == 10)
        start = now()
        let tokenPage = try emulator.listSnapshots(snapshotID: nil, sourceDiskID: nil, maxEntries: 5, startingToken: middle)
        fromToken.append(ms(now() - start))
        precondition(tokenPage.items.count == 5)
    }
    return ScaleResult(stored: stored, createMs: median(creates), listFirstPageMs: median(firsts),
                       listByDiskMs: median(byDisk), listFromTokenMs: median(fromToken))
}

func benchScale(directory: String, samples: Int) throws {
    let state = directory + "/scale"
    let rules = RuleSettings(maxSnapshotsPerDisk: 20_000)
    var disks: [Disk] = []
    var small: ScaleResult
    do {
        let emulator = try EVSEmulator(configuration: EmulatorConfiguration(stateDirectory: state, rules: rules))
        for index in 0..<10 {
            disks.append(try emulator.createDisk(name: "scale-\(index)", spec: DiskSpec(capacityGiB: 1), source: nil))
        }
        // The 10 baseline snapshots all belong to disk 0, so every measured page returns the same number of
        // entries (10, or 5 after the middle token) with 10 stored as with 10,000.
        for index in 0..<10 { _ = try emulator.createSnapshot(name: "base-\(index)", sourceDisk: disks[0].id) }
        small = try measureScale(emulator, disks: disks, stored: 10, samples: samples)
    }
    // Fill to 10,000 through the real API (fsync off while filling; the stored state is the same).
    let fillStart = now()
    do {
        let filler = try EVSEmulator(configuration: EmulatorConfiguration(stateDirectory: state, rules: rules, durableWrites: false))
        for index in 10..<10_000 {
            _ = try filler.createSnapshot(name: "fill-\(index)", sourceDisk: disks[index % disks.count].id)
        }
    }
    print("filled 9,990 snapshots through createSnapshot in \(fmt(ms(now() - fillStart) / 1000, 1)) s (durableWrites off)")
    let emulator = try EVSEmulator(configuration: EmulatorConfiguration(stateDirectory: state, rules: rules))
    let stored = try emulator.listSnapshots(snapshotID: nil, sourceDiskID: nil, maxEntries: 0, startingToken: nil).items.count
    precondition(stored == 10_000, "expected 10,000 snapshots, found \(stored)")
    let big = try measureScale(emulator, disks: disks, stored: stored, samples: samples)
    print(pad("stored", 9) + pad("createSnapshot ms", 19) + pad("list 10 ms", 12) + pad("list 10 by disk ms", 20) + "list 5 from mid token ms")
    for result in [small, big] {
        print(pad("\(result.stored)", 9) + pad(fmt(result.createMs, 3), 19) + pad(fmt(result.listFirstPageMs, 3), 12)
              + pad(fmt(result.listByDiskMs, 3), 20) + fmt(result.listFromTokenMs, 3))
    }
    print("ratio 10k/10: createSnapshot \(fmt(big.createMs / small.createMs))x, list \(fmt(big.listFirstPageMs / small.listFirstPageMs))x, "
          + "list by disk \(fmt(big.listByDiskMs / small.listByDiskMs))x, list from token \(fmt(big.listFromTokenMs / small.listFromTokenMs))x "
          + "(target < 2x)")
    _ = consume emulator
    try? FileManager.default.removeItem(atPath: state)
}

// MARK: Main

let environment = ProcessInfo.processInfo.environment
let parent = environment["EVS_BENCH_DIR"] ?? "/tmp"
let repetitions = Int(environment["EVS_BENCH_REPETITIONS"] ?? "") ?? 3
let samples = Int(environment["EVS_BENCH_SAMPLES"] ?? "") ?? 100
let only = CommandLine.arguments.dropFirst().first  // "data", "scale", or nothing for both

do {
    if only == nil || only == "data" {
        let base = makeTemporaryDirectory(in: parent, "evs-bench")
        defer { try? FileManager.default.removeItem(atPath: base) }
        var rows: [DataRow] = []
        let probe = try EVSEmulator(configuration: EmulatorConfiguration(stateDirectory: base + "/probe"))
        let defaultFS = probe.dataFileSystem()
        _ = consume probe
        print("== snapshot / restore of a sparse 10 GiB disk (median of \(repetitions)); default fs: \(parent) (\(defaultFS))")
        rows += try benchData(directory: base, label: defaultFS, repetitions: repetitions)
        // The same without fsync (durableWrites off: survives SIGKILL, not power loss), to show what fsync costs.
        rows += try benchData(directory: base, label: defaultFS + "-nosync", repetitions: repetitions, durable: false)

        let mountPoint = base + "/xfs-mnt", image = base + "/xfs.img"
        mkdir(mountPoint, 0o755)
        var mounted = false
        if getuid() != 0 {
            print("xfs reflink: skipped (not root)")
        } else if shell(["which", "mkfs.xfs"]).status != 0 {
            print("xfs reflink: skipped (mkfs.xfs not found)")
        } else {
            for step in [["truncate", "-s", "6G", image], ["mkfs.xfs", "-q", "-m", "reflink=1", image],
                         ["mount", "-o", "loop", image, mountPoint]] {
                let result = shell(step)
                if result.status != 0 {
                    print("xfs reflink: skipped (\(step.joined(separator: " ")) failed: \(result.output))")
                    break
                }
                if step[0] == "mount" { mounted = true }
            }
        }
        if mounted {
            defer { shell(["umount", mountPoint]) }
            rows += try benchData(directory: mountPoint, label: "xfs", repetitions: repetitions)
        }
        printDataRows(rows)
        for row in rows {
            let verdict: String
            if row.snapshotMethod == "reflink" {
                verdict = row.snapshotMs < 50 ? "ok (< 50 ms)" : "MISSED (>= 50 ms)"
            } else {
                verdict = row.snapshotMs <= 1.5 * row.cpMs ? "ok (<= 1.5x cp)" : "MISSED (> 1.5x cp)"
            }
            print("target \(row.fileSystem) \(row.dataMiB) MiB: \(verdict)")
        }
    }
    if only == nil || only == "scale" {
        let base = makeTemporaryDirectory(in: parent, "evs-bench-scale")
        defer { try? FileManager.default.removeItem(atPath: base) }
        print("== metadata latency, 10 vs 10,000 snapshots stored (median of \(samples), durableWrites on)")
        try benchScale(directory: base, samples: samples)
    }
} catch {
    print("evs-bench-data failed: \(error)")
    exit(1)
}
