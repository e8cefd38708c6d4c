import Glibc
import Testing
@testable import EVSEmulator

@Suite("Data files: sparse images, clones and sparse copies")
struct DataFilesTests {
    @Test("a new disk image is sparse: full size, no data blocks")
    func createSparseHasNoBlocks() throws {
        try withTemporaryDirectory { (dir) throws in
            let path = dir + "/d.img"
            try DataFiles.createSparse(at: path, bytes: 1 << 30, durable: true)
            let info = sizeAndBlocks(path)
            #expect(info.size == 1 << 30)
            #expect(info.blocks == 0)
            #expect(!DataFiles.exists(path + DataFiles.temporarySuffix))
        }
    }

    @Test("sparse copy keeps the data and the holes", arguments: [true, false])
    func sparseCopyKeepsHoles(copyFileRange: Bool) throws {
        try withTemporaryDirectory { (dir) throws in
            let source = dir + "/src.img", copy = dir + "/copy.img"
            try DataFiles.createSparse(at: source, bytes: 32 << 20, durable: false)
            try writePattern(path: source, offset: 0, count: 1 << 20, seed: 1)
            try writePattern(path: source, offset: 20 << 20, count: 3 << 20, seed: 2)
            let method = try DataFiles.cloneFile(from: source, to: copy, allowReflink: false,
                                                 allowCopyFileRange: copyFileRange, durable: true)
            #expect(method == (copyFileRange ? .sparseCopyFileRange : .sparseReadWrite))
            #expect(try checksum(path: copy) == checksum(path: source))
            let src = sizeAndBlocks(source), dst = sizeAndBlocks(copy)
            #expect(dst.size == src.size)
            // 4 MiB of data = 8192 blocks; the 28 MiB of holes must not have been written as zeros.
            #expect(dst.blocks <= src.blocks + 64, "copy allocated \(dst.blocks) blocks, source \(src.blocks)")
            #expect(dst.blocks >= 8192)
        }
    }

    @Test("read/write fallback skips zero chunks written as data")
    func readWriteSkipsZeroData() throws {
        try withTemporaryDirectory { (dir) throws in
            let source = dir + "/src.img", copy = dir + "/copy.img"
            try DataFiles.createSparse(at: source, bytes: 8 << 20, durable: false)
            // 4 MiB of explicit zeros: data extents on disk, but all zero.
            let fd = open(source, O_WRONLY)
            let zeros = [UInt8](repeating: 0, count: 4 << 20)
            _ = zeros.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
            fsync(fd); close(fd)
            #expect(sizeAndBlocks(source).blocks >= 8192)
            _ = try DataFiles.cloneFile(from: source, to: copy, allowReflink: false, allowCopyFileRange: false, durable: false)
            #expect(sizeAndBlocks(copy).blocks == 0)
            #expect(try checksum(path: copy) == checksum(path: source))
        }
    }

    @Test("a copy can be grown past the source size; the tail reads as zeros")
    func cloneAndGrow() throws {
        try withTemporaryDirectory { (dir) throws in
            let source = dir + "/src.img", copy = dir + "/copy.img"
            try DataFiles.createSparse(at: source, bytes: 1 << 20, durable: false)
            try writePattern(path: source, offset: 0, count: 4096, seed: 3)
            _ = try DataFiles.cloneFile(from: source, to: copy, growTo: 2 << 20, durable: false)
            #expect(sizeAndBlocks(copy).size == 2 << 20)
        }
    }

    @Test("removing a missing file is not an error")
    func removeMissing() throws {
        try withTemporaryDirectory { (dir) throws in
            try DataFiles.remove(dir + "/nothing.img", durable: true)
        }
    }

    @Test("cloning a missing source fails with ENOENT and leaves no temporary file")
    func cloneMissingSource() throws {
        try withTemporaryDirectory { (dir) throws in
            #expect(throws: DataFileError.self) {
                _ = try DataFiles.cloneFile(from: dir + "/none.img", to: dir + "/copy.img", durable: false)
            }
            #expect(!DataFiles.exists(dir + "/copy.img.tmp"))
        }
    }
}
