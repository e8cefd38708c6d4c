import EVSSnapshotRules
import Foundation
import Glibc
import Testing
@testable import EVSEmulator

/// Runs a command; returns its exit status and combined output.
@discardableResult
func run(_ arguments: [String]) -> (status: Int32, output: String) {
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

/// A 300 MB xfs file system with reflinks on a loop device, mounted in a temporary directory.
/// `make` returns nil with the reason when it cannot be had (not root, no mkfs.xfs, mount refused).
final class XFSLoopMount {
    let directory: String
    let mountPoint: String

    private init(directory: String) {
        self.directory = directory
        self.mountPoint = directory + "/mnt"
    }

    static func make() -> (mount: XFSLoopMount?, reason: String) {
        guard getuid() == 0 else { return (nil, "not running as root (uid \(getuid())): cannot mount a loop file system") }
        guard run(["which", "mkfs.xfs"]).status == 0 else { return (nil, "mkfs.xfs not found (install xfsprogs)") }
        var template = Array("/tmp/evs-xfs-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            return (nil, "mkdtemp failed")
        }
        let mount = XFSLoopMount(directory: String(cString: made))
        let image = mount.directory + "/xfs.img"
        mkdir(mount.mountPoint, 0o755)
        for step in [["truncate", "-s", "300M", image], ["mkfs.xfs", "-q", "-m", "reflink=1", image],
                     ["mount", "-o", "loop", image, mount.mountPoint]] {
            let result = run(step)
            if result.status != 0 {
                mount.remove()
                return (nil, "\(step.joined(separator: " ")) failed (\(result.status)): \(result.output.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
        }
        return (mount, "")
    }

    func remove() {
        run(["umount", mountPoint])
        try? FileManager.default.removeItem(atPath: directory)
    }
}

@Suite("Reflink snapshots on a real xfs loop file system", .serialized)
struct ReflinkTests {
    @Test("on xfs with reflink=1: snapshot and restore are FICLONE clones sharing blocks; data round-trips")
    func reflinkOnXFS() throws {
        let (made, reason) = XFSLoopMount.make()
        guard let mount = made else {
            print("SKIP reflinkOnXFS: \(reason)")
            try Test.cancel("skipped: \(reason)")
        }
        defer { mount.remove() }
        do {
            let emulator = try EVSEmulator(configuration: testConfiguration(mount.mountPoint + "/state"))
            #expect(emulator.dataFileSystem() == "xfs")
            let disk = try emulator.createDisk(name: "d1", spec: DiskSpec(capacityGiB: 10), source: nil)
            let diskPath = emulator.diskImagePath(disk.id)
            for chunk in 0..<8 {  // 8 MiB of data spread over the 10 GiB disk
                try writePattern(path: diskPath, offset: Int64(chunk) << 30, count: 1 << 20, seed: UInt64(chunk))
            }
            fsyncPath(diskPath)
            let before = try checksum(path: diskPath)
            let freeBefore = try emulator.capacity().freeBytes
            let start = DispatchTime.now().uptimeNanoseconds
            let (snapshot, method) = try emulator.createSnapshotReportingMethod(name: "s1", sourceDisk: disk.id)
            let milliseconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
            print("reflink snapshot of a 10 GiB disk with 8 MiB data: \(milliseconds) ms")
            #expect(method == .reflink)
            // Shared extents: taking the snapshot did not consume the data's size again.
            #expect(freeBefore - (try emulator.capacity().freeBytes) < 4 << 20)
            try writePattern(path: diskPath, offset: 0, count: 1 << 20, seed: 1234)  // copy-on-write of the source
            #expect(try checksum(path: diskPath) != before)
            #expect(try checksum(path: emulator.snapshotImagePath(snapshot.id)) == before)
            let (restored, restoreMethod) = try emulator.createDiskReportingMethod(name: "r1", spec: DiskSpec(capacityGiB: 10),
                                                                                  source: snapshot.id)
            #expect(restoreMethod == .reflink)
            #expect(try checksum(path: emulator.diskImagePath(restored.id)) == before)
            #expect(restored.capacityGiB == 10)
        }
    }

    @Test("on ext4 (no reflink) the emulator falls back to a sparse copy")
    func fallbackOffXFS() throws {
        try withEmulator { (emulator, _) throws in
            guard emulator.dataFileSystem() != "xfs" && emulator.dataFileSystem() != "btrfs" else {
                print("SKIP fallbackOffXFS: /tmp is \(emulator.dataFileSystem()), which has reflinks")
                try Test.cancel("skipped: /tmp supports reflinks")
            }
            let disk = try emulator.createDisk(name: "d1", spec: DiskSpec(capacityGiB: 1), source: nil)
            let (_, method) = try emulator.createSnapshotReportingMethod(name: "s1", sourceDisk: disk.id)
            #expect(method == .sparseCopyFileRange || method == .sparseReadWrite)
        }
    }
}

private func fsyncPath(_ path: String) {
    let fd = open(path, O_RDONLY)
    if fd >= 0 { fsync(fd); close(fd) }
}
