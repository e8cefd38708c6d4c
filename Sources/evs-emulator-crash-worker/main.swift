// evs-emulator-crash-worker STATE_DIR [CYCLES]: drives an EVSEmulator through create / write / snapshot /
// restore / delete cycles with durable writes, forever or for CYCLES cycles. The crash test SIGKILLs it at
// random moments and checks that the reopened store is consistent. Names repeat every 8 cycles, so a
// restarted worker also exercises idempotent retries of whatever the killed one left behind.
import EVSEmulator
import EVSSnapshotRules
import Foundation
import Glibc

/// Writes 256 KiB of a pattern derived from `seed` at offset 1 MiB (same seed, same bytes).
func writePattern(_ path: String, seed: UInt64) {
    var bytes = [UInt8](repeating: 0, count: 256 << 10)
    var state = (seed + 1) &* 0x9E37_79B9_7F4A_7C15
    for index in bytes.indices {
        state ^= state << 13; state ^= state >> 7; state ^= state << 17
        bytes[index] = UInt8(truncatingIfNeeded: state) | 1
    }
    let fd = open(path, O_WRONLY)
    precondition(fd >= 0, "open \(path): errno \(errno)")
    _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 1 << 20) }
    fsync(fd)
    close(fd)
}

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    FileHandle.standardError.write(Data("usage: evs-emulator-crash-worker STATE_DIR [CYCLES]\n".utf8))
    exit(64)
}
let cycles = arguments.count >= 3 ? Int(arguments[2]) ?? Int.max : Int.max
/// Unbuffered output: a SIGKILL loses nothing already said.
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
do {
    let emulator = try EVSEmulator(configuration: EmulatorConfiguration(stateDirectory: arguments[1]))
    say("open \(emulator.openReport)")
    for cycle in 0..<cycles {
        let slot = cycle % 8
        let disk = try emulator.createDisk(name: "disk-\(slot)", spec: DiskSpec(capacityGiB: 1), source: nil)
        writePattern(emulator.diskImagePath(disk.id), seed: UInt64(slot))
        let snapshot = try emulator.createSnapshot(name: "snap-\(slot)", sourceDisk: disk.id)
        let restored = try emulator.createDisk(name: "restore-\(slot)", spec: DiskSpec(capacityGiB: 1), source: snapshot.id)
        if cycle % 3 != 2 {  // leave some objects standing, delete the rest in dependency order
            try emulator.deleteDisk(restored.id)
            try emulator.deleteSnapshot(snapshot.id)
            try emulator.deleteDisk(disk.id)
        }
        say("cycle \(cycle)")
    }
} catch {
    say("worker failed: \(error)")
    exit(1)
}
