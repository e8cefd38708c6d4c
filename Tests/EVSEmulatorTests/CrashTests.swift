import EVSSnapshotRules
import Foundation
import Glibc
import Testing
@testable import EVSEmulator

/// The crash worker binary, built beside the test bundle.
private func workerPath() -> String? {
    let bundleDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
    for candidate in [bundleDirectory, FileManager.default.currentDirectoryPath + "/.build/debug"] {
        let path = candidate + "/evs-emulator-crash-worker"
        if access(path, X_OK) == 0 { return path }
    }
    return nil
}

/// Starts the worker on `stateDirectory`; waits until it finished `cycles` cycles (nil: run until killed after
/// `killAfter` seconds). Returns its exit status (SIGKILL -> 9 as `uncaughtSignal`) and output.
private func runWorker(_ path: String, stateDirectory: String, cycles: Int?, killAfter: Double?) throws
    -> (reason: Process.TerminationReason, status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = [stateDirectory] + (cycles.map { [String($0)] } ?? [])
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    if let killAfter {
        usleep(UInt32(killAfter * 1_000_000))
        kill(process.processIdentifier, SIGKILL)
    }
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return (process.terminationReason, process.terminationStatus, output)
}

@Suite("Crash safety: SIGKILL at random moments, then reopen", .serialized)
struct CrashTests {
    @Test("after each SIGKILL the reopened store is consistent and nothing completed is lost")
    func sigkillLoop() throws {
        guard let worker = workerPath() else {
            Issue.record("evs-emulator-crash-worker not built next to the tests (\(CommandLine.arguments[0]))")
            return
        }
        try withTemporaryDirectory { (dir) throws in
            var generator = SystemRandomNumberGenerator()
            var kills = 0
            for round in 0..<8 {
                let delay = Double.random(in: 0.15...0.9, using: &generator)
                let result = try runWorker(worker, stateDirectory: dir, cycles: nil, killAfter: delay)
                #expect(!result.output.contains("worker failed"), "round \(round): \(result.output)")
                if result.reason == .uncaughtSignal { kills += 1 }
                let report = try checkConsistent(dir, round: round)
                let cycles = result.output.split(separator: "\n").last ?? ""
                print("crash round \(round): killed after \(Int(delay * 1000)) ms at '\(cycles)'; reconcile: \(report)")
            }
            #expect(kills >= 6, "the worker should have been killed mid-run")
            // A worker that is not killed completes every cycle on top of what the crashes left.
            let result = try runWorker(worker, stateDirectory: dir, cycles: 16, killAfter: nil)
            #expect(result.reason == .exit && result.status == 0, "\(result.output)")
            _ = try checkConsistent(dir, round: 99)
        }
    }

    /// Reopens the store (running reconcile), checks its invariants and returns what reconcile repaired.
    private func checkConsistent(_ dir: String, round: Int) throws -> ReconcileReport {
        let emulator = try EVSEmulator(configuration: testConfiguration(dir))
        let disks = try emulator.listDisks(maxEntries: 0, startingToken: nil).items
        let snapshots = try emulator.listSnapshots(snapshotID: nil, sourceDiskID: nil, maxEntries: 0, startingToken: nil).items
        #expect(disks.allSatisfy { $0.status == .available }, "round \(round): \(disks.map(\.status))")
        #expect(snapshots.allSatisfy { $0.status == .available }, "round \(round)")
        for disk in disks {
            #expect(sizeAndBlocks(emulator.diskImagePath(disk.id)).size == Int64(disk.capacityGiB) << 30, "round \(round)")
        }
        var knownFiles = Set(disks.map { emulator.diskImagePath($0.id) })
        for snapshot in snapshots {
            let path = emulator.snapshotImagePath(snapshot.id)
            knownFiles.insert(path)
            // Disks are written once (the same pattern each time) before they are snapshotted, so a snapshot
            // equals its source disk; a restored disk equals its snapshot.
            #expect(try checksum(path: path) == checksum(path: emulator.diskImagePath(snapshot.sourceDiskID)), "round \(round)")
            for disk in disks where try emulator.sourceSnapshot(ofDisk: disk.id) == snapshot.id {
                #expect(try checksum(path: emulator.diskImagePath(disk.id)) == checksum(path: path), "round \(round)")
            }
        }
        var files: [String] = []
        for sub in ["disks", "snapshots"] {
            files += try FileManager.default.contentsOfDirectory(atPath: dir + "/" + sub).map { dir + "/" + sub + "/" + $0 }
        }
        #expect(Set(files) == knownFiles, "round \(round): stray files \(Set(files).subtracting(knownFiles))")
        return emulator.openReport
    }
}
