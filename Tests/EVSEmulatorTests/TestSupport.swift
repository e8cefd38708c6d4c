import Foundation
import Glibc
@testable import EVSEmulator

/// A fresh temporary directory, removed when the value is dropped by `withTemporaryDirectory`.
func withTemporaryDirectory<T>(_ body: (String) throws -> T) throws -> T {
    var template = Array("/tmp/evs-emulator-test-XXXXXX".utf8CString)
    let path = template.withUnsafeMutableBufferPointer { buffer -> String in
        guard let made = mkdtemp(buffer.baseAddress!) else { fatalError("mkdtemp failed: errno \(errno)") }
        return String(cString: made)
    }
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try body(path)
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

/// A 64-bit FNV-1a-style hash over the whole file, one 8-byte word at a time
/// (CryptoKit is not available on Linux; this only has to tell different contents apart).
func checksum(path: String) throws -> UInt64 {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { throw DataFileError(operation: "open", path: path, errno: errno) }
    defer { close(fd) }
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 8)
    defer { buffer.deallocate() }
    var total: UInt64 = 0
    while true {
        let got = read(fd, buffer.baseAddress, buffer.count)
        if got <= 0 { break }
        let words = buffer.baseAddress!.assumingMemoryBound(to: UInt64.self)
        for index in 0..<(got / 8) {
            hash = (hash ^ words[index]) &* 0x100_0000_01b3
        }
        for index in (got / 8 * 8)..<got {
            hash = (hash ^ UInt64(buffer[index])) &* 0x100_0000_01b3
        }
        total += UInt64(got)
    }
    return hash ^ total
}

/// `st_size` and `st_blocks` (512-byte units) of a file.
func sizeAndBlocks(_ path: String) -> (size: Int64, blocks: Int64) {
    var st = stat()
    precondition(stat(path, &st) == 0, "stat \(path)")
    return (Int64(st.st_size), Int64(st.st_blocks))
}
