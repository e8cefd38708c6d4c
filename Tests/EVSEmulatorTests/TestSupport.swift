import CEVSFileOps
import Foundation
import Glibc
@testable import EVSEmulator

/// A fresh temporary directory, removed when the value is dropped by `withTemporaryDirectory`.
func withTemporaryDirectory(_ body: (String) throws -> Void) throws {
    var template = Array("/tmp/evs-emulator-test-XXXXXX".utf8CString)
    let path = template.withUnsafeMutableBufferPointer { buffer -> String in
        guard let made = mkdtemp(buffer.baseAddress!) else { fatalError("mkdtemp failed: errno \(errno)") }
        return String(cString: made)
    }
    defer { try? FileManager.default.removeItem(atPath: path) }
    try body(path)
}

/// Writes `count` bytes of a deterministic pattern (seeded) at `offset` into the file at `path`.
func writePattern(path: String, offset: Int64, count: Int, seed: UInt64) throws {
    var bytes = [UInt8](repeating: 0, count: count)
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    for index in 0..<count {
        state ^= state << 13; state ^= state >> 7; state ^= state << 17  // xorshift64
        bytes[index] = UInt8(truncatingIfNeeded: state)
    }
    let fd = open(path, O_WRONLY)
    guard fd >= 0 else { throw DataFileError(operation: "open", path: path, errno: errno) }
    defer { close(fd) }
    let written = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, count, off_t(offset)) }
    guard written == count else { throw DataFileError(operation: "pwrite", path: path, errno: errno) }
}

/// A 64-bit FNV-1a-style hash of a file's contents (CryptoKit is not available on Linux). Only data
/// extents are read (SEEK_DATA/SEEK_HOLE) and all-zero 4 KiB blocks are skipped, so a hole and written
/// zeros hash alike and a sparse 1 GiB image is hashed in milliseconds; the size is mixed in.
func checksum(path: String) throws -> UInt64 {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { throw DataFileError(operation: "open", path: path, errno: errno) }
    defer { close(fd) }
    var st = stat()
    fstat(fd, &st)
    let size = Int64(st.st_size)
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    func mix(_ word: UInt64) { hash = (hash ^ word) &* 0x100_0000_01b3 }
    let block = 4096
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: block)
    defer { buffer.deallocate() }
    let zeros = UnsafeMutableRawBufferPointer.allocate(byteCount: block, alignment: block)
    defer { zeros.deallocate() }
    zeros.initializeMemory(as: UInt8.self, repeating: 0)
    var offset: Int64 = 0
    while offset < size {
        let start = cevs_seek_data(fd, offset)
        if start < 0 { break }
        let end = min(max(cevs_seek_hole(fd, start), start), size)
        var position = start
        while position < end {
            let got = pread(fd, buffer.baseAddress, Int(min(Int64(buffer.count), end - position)), off_t(position))
            if got <= 0 { break }
            var index = 0
            while index < got {
                let length = min(block, got - index)
                if memcmp(buffer.baseAddress! + index, zeros.baseAddress!, length) != 0 {
                    mix(UInt64(position) + UInt64(index))
                    let words = (buffer.baseAddress! + index).assumingMemoryBound(to: UInt64.self)
                    for word in 0..<(length / 8) { mix(words[word]) }
                }
                index += length
            }
            position += Int64(got)
        }
        offset = max(end, start + 1)
    }
    mix(UInt64(size))
    return hash
}

/// `st_size` and `st_blocks` (512-byte units) of a file.
func sizeAndBlocks(_ path: String) -> (size: Int64, blocks: Int64) {
    var st = stat()
    precondition(stat(path, &st) == 0, "stat \(path)")
    return (Int64(st.st_size), Int64(st.st_blocks))
}

import EVSSnapshotRules
import Testing

/// Opens an emulator on a fresh temporary state directory (fsync off: these tests simulate SIGKILL,
/// not power loss, and stay fast), runs `body`, then drops it.
func withEmulator(
    quota: Int = 7, capacityMatch: CapacityMatch = .equal, maxAttachments: Int = 24,
    topologies: [Topology] = [EmulatorConfiguration.defaultTopology],
    _ body: (EVSEmulator, String) throws -> Void
) throws {
    try withTemporaryDirectory { (dir) throws in
        let emulator = try EVSEmulator(configuration: testConfiguration(
            dir, quota: quota, capacityMatch: capacityMatch, maxAttachments: maxAttachments, topologies: topologies))
        try body(emulator, dir)
    }
}

func testConfiguration(_ dir: String, quota: Int = 7, capacityMatch: CapacityMatch = .equal, maxAttachments: Int = 24,
                       topologies: [Topology] = [EmulatorConfiguration.defaultTopology]) -> EmulatorConfiguration {
    EmulatorConfiguration(stateDirectory: dir, topologies: topologies,
                          rules: RuleSettings(maxSnapshotsPerDisk: quota, capacityMatch: capacityMatch),
                          maxAttachmentsPerNode: maxAttachments, durableWrites: false)
}

/// Runs `body` and returns the `BackendError` it threw, or nil. Any other error fails the test.
func backendError(_ body: () throws -> Void) -> BackendError? {
    do {
        try body()
        return nil
    } catch let error as BackendError {
        return error
    } catch {
        Issue.record("expected a BackendError, got \(error)")
        return .storage("unexpected error type")
    }
}

extension BackendError {
    /// The refusal kind of a rule violation (nil for the backend's own errors); gRPC codes live in the driver.
    var kind: RefusalKind? {
        if case .rule(let violation) = self { violation.kind } else { nil }
    }
}
