// The data layer: each disk and snapshot is one sparse file under the state directory.
//
// Hazards, stated once: every function here works on raw file descriptors. A descriptor is
// closed by a `defer` right after it is opened, and never escapes the function that opened it.
// Files are first written under a temporary name (`<final>.tmp`), flushed with fsync(2), then
// renamed into place and the directory is flushed, so a crash leaves either no file, a complete
// file, or a `.tmp` leftover that `EVSEmulator.reconcile()` removes. Nothing here touches SQLite.
import CEVSFileOps
import Glibc

/// How a file's data was copied by `DataFiles.cloneFile`.
public enum DataCopyMethod: String, Sendable, Equatable {
    /// Copy-on-write clone: `ioctl(dst, FICLONE, src)`; no data is read or written (xfs, btrfs).
    case reflink
    /// Only the source's data extents were copied (SEEK_DATA/SEEK_HOLE), with copy_file_range(2).
    case sparseCopyFileRange = "sparse-copy_file_range"
    /// Only non-zero blocks were copied with read(2)/write(2) (copy_file_range or SEEK_DATA unavailable).
    case sparseReadWrite = "sparse-read-write"
}

/// A failed system call in the data layer.
public struct DataFileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The call that failed, e.g. `open`, `ftruncate`.
    public let operation: String
    /// The file it was working on.
    public let path: String
    /// The errno it left.
    public let errno: Int32

    public var description: String {
        "\(operation) \(path): \(String(cString: strerror(errno))) (errno \(errno))"
    }
}

/// File operations on disk and snapshot images. All functions are safe to call from several threads
/// on different paths; callers (the emulator) never let two operations work on the same final path.
enum DataFiles {
    static let temporarySuffix = ".tmp"

    /// Calls `body` and turns `-1` into a `DataFileError`; retries on EINTR.
    @discardableResult
    static func check<T: BinaryInteger>(_ operation: String, _ path: String, _ body: () -> T) throws(DataFileError) -> T {
        while true {
            let result = body()
            if result != -1 { return result }
            let code = Glibc.errno
            if code == EINTR { continue }
            throw DataFileError(operation: operation, path: path, errno: code)
        }
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// Flushes a directory's entries (a rename or unlink in it) to stable storage.
    static func syncDirectory(_ path: String) throws(DataFileError) {
        let fd = try check("open", path) { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { close(fd) }
        try check("fsync", path) { fsync(fd) }
    }

    /// Creates a directory if it is missing (one level).
    static func makeDirectory(_ path: String) throws(DataFileError) {
        if mkdir(path, 0o755) == 0 || Glibc.errno == EEXIST { return }
        throw DataFileError(operation: "mkdir", path: path, errno: Glibc.errno)
    }

    /// The names in a directory (without `.` and `..`); empty if it cannot be read.
    static func entries(of directory: String) -> [String] {
        guard let stream = opendir(directory) else { return [] }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    /// Size in bytes and 512-byte blocks allocated, or nil if the file is absent.
    static func sizeAndBlocks(_ path: String) -> (size: Int64, blocks: Int64)? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return (Int64(st.st_size), Int64(st.st_blocks))
    }

    /// Removes a file; a missing file is not an error. Flushes the directory when `durable`.
    static func remove(_ path: String, durable: Bool) throws(DataFileError) {
        if unlink(path) != 0 {
            let code = Glibc.errno
            if code == ENOENT { return }
            throw DataFileError(operation: "unlink", path: path, errno: code)
        }
        if durable { try syncDirectory(directory(of: path)) }
    }

    /// Opens `path + ".tmp"` fresh for writing (removing a leftover of an earlier crash first).
    private static func openTemporary(for path: String) throws(DataFileError) -> (fd: Int32, tmp: String) {
        let tmp = path + temporarySuffix
        if unlink(tmp) != 0 && Glibc.errno != ENOENT {
            throw DataFileError(operation: "unlink", path: tmp, errno: Glibc.errno)
        }
        let fd = try check("open", tmp) { open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600) }
        return (fd, tmp)
    }

    /// Flushes `fd`, closes it and renames `tmp` to `path`; on failure removes `tmp`.
    private static func publish(fd: Int32, tmp: String, as path: String, durable: Bool) throws(DataFileError) {
        do {
            if durable { try check("fsync", tmp) { fsync(fd) } }
            close(fd)
            try check("rename", tmp) { rename(tmp, path) }
            if durable { try syncDirectory(directory(of: path)) }
        } catch {
            unlink(tmp)
            throw error
        }
    }

    /// Creates `path` as a sparse file of `bytes` bytes (no data blocks), atomically.
    static func createSparse(at path: String, bytes: Int64, durable: Bool) throws(DataFileError) {
        let (fd, tmp) = try openTemporary(for: path)
        do {
            try check("ftruncate", tmp) { ftruncate(fd, off_t(bytes)) }
        } catch {
            close(fd); unlink(tmp)
            throw error
        }
        try publish(fd: fd, tmp: tmp, as: path, durable: durable)
    }

    /// Grows `path` to `bytes` (never shrinks) and flushes it.
    static func grow(_ path: String, to bytes: Int64, durable: Bool) throws(DataFileError) {
        let fd = try check("open", path) { open(path, O_RDWR | O_CLOEXEC) }
        defer { close(fd) }
        var st = stat()
        try check("fstat", path) { fstat(fd, &st) }
        guard Int64(st.st_size) < bytes else { return }
        try check("ftruncate", path) { ftruncate(fd, off_t(bytes)) }
        if durable { try check("fsync", path) { fsync(fd) } }
    }

    /// Makes `destination` an exact copy of `source` (size, data, holes), atomically: a reflink clone
    /// when the file system supports it, otherwise a sparse-aware copy that never writes holes as zeros.
    /// When `growTo` is larger than the source, the copy is then grown to that many bytes.
    static func cloneFile(from source: String, to destination: String, growTo: Int64? = nil,
                          allowReflink: Bool = true, allowCopyFileRange: Bool = true,
                          durable: Bool) throws(DataFileError) -> DataCopyMethod {
        let src = try check("open", source) { open(source, O_RDONLY | O_CLOEXEC) }
        defer { close(src) }
        var st = stat()
        try check("fstat", source) { fstat(src, &st) }
        let size = Int64(st.st_size)
        let (dst, tmp) = try openTemporary(for: destination)
        let method: DataCopyMethod
        do {
            if allowReflink, cevs_ficlone(dst, src) == 0 {
                method = .reflink
            } else {
                try check("ftruncate", tmp) { ftruncate(dst, off_t(size)) }
                method = try sparseCopy(src: src, dst: dst, size: size, useCopyFileRange: allowCopyFileRange,
                                        sourcePath: source, tmpPath: tmp)
            }
            if let growTo, growTo > size {
                try check("ftruncate", tmp) { ftruncate(dst, off_t(growTo)) }
            }
        } catch {
            close(dst); unlink(tmp)
            throw error
        }
        try publish(fd: dst, tmp: tmp, as: destination, durable: durable)
        return method
    }

    /// Copies the data extents of `src` into `dst` (already truncated to `size`), leaving holes as holes.
    private static func sparseCopy(src: Int32, dst: Int32, size: Int64, useCopyFileRange: Bool, sourcePath: String,
                                   tmpPath: String) throws(DataFileError) -> DataCopyMethod {
        var useCopyFileRange = useCopyFileRange
        var offset: Int64 = 0
        while offset < size {
            let dataStart = cevs_seek_data(src, offset)
            if dataStart < 0 {
                let code = Glibc.errno
                if code == ENXIO { break }  // only a hole remains
                if code == EINVAL || code == EOPNOTSUPP {
                    // No SEEK_DATA here: read everything, skipping zero blocks.
                    try readWriteCopy(src: src, dst: dst, from: offset, to: size, sourcePath: sourcePath, tmpPath: tmpPath)
                    return .sparseReadWrite
                }
                throw DataFileError(operation: "lseek(SEEK_DATA)", path: sourcePath, errno: code)
            }
            var dataEnd = cevs_seek_hole(src, dataStart)
            if dataEnd < 0 { dataEnd = size }
            dataEnd = min(dataEnd, size)
            var inOffset = dataStart
            var outOffset = dataStart
            while useCopyFileRange && inOffset < dataEnd {
                let copied = cevs_copy_file_range(src, &inOffset, dst, &outOffset, UInt64(dataEnd - inOffset))
                if copied > 0 { continue }
                if copied == 0 { break }  // the source shrank under us; the rest is read below
                let code = Glibc.errno
                if code == EINTR { continue }
                if code == EXDEV || code == ENOSYS || code == EOPNOTSUPP || code == EINVAL || code == EBADF {
                    useCopyFileRange = false
                    break
                }
                throw DataFileError(operation: "copy_file_range", path: sourcePath, errno: code)
            }
            if inOffset < dataEnd {
                try readWriteCopy(src: src, dst: dst, from: inOffset, to: dataEnd, sourcePath: sourcePath, tmpPath: tmpPath)
            }
            offset = dataEnd
        }
        return useCopyFileRange ? .sparseCopyFileRange : .sparseReadWrite
    }

    /// Copies `[from, to)` with pread/pwrite in 1 MiB chunks; all-zero chunks are skipped so they stay holes.
    private static func readWriteCopy(src: Int32, dst: Int32, from: Int64, to end: Int64, sourcePath: String,
                                      tmpPath: String) throws(DataFileError) {
        let chunk = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 4096)
        defer { buffer.deallocate() }
        var offset = from
        while offset < end {
            let want = Int(min(Int64(chunk), end - offset))
            let got = try check("pread", sourcePath) { pread(src, buffer.baseAddress, want, off_t(offset)) }
            if got == 0 { break }
            let bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<got])
            if !isAllZero(bytes) {
                var written = 0
                while written < got {
                    let n = try check("pwrite", tmpPath) {
                        pwrite(dst, bytes.baseAddress! + written, got - written, off_t(offset) + off_t(written))
                    }
                    written += n
                }
            }
            offset += Int64(got)
        }
    }

    static func isAllZero(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var index = 0
        let count = bytes.count
        while index + 8 <= count {
            if bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self) != 0 { return false }
            index += 8
        }
        while index < count {
            if bytes[index] != 0 { return false }
            index += 1
        }
        return true
    }

    /// File system facts for `path`: magic number, free and total bytes.
    static func fileSystemInfo(_ path: String) throws(DataFileError) -> (magic: UInt64, free: UInt64, total: UInt64) {
        let fd = try check("open", path) { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { close(fd) }
        var magic: UInt64 = 0, free: UInt64 = 0, total: UInt64 = 0
        try check("fstatfs", path) { cevs_fs_info(fd, &magic, &free, &total) }
        return (magic, free, total)
    }
}
