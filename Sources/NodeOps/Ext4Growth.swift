// Growing ext4, and the capabilities growing a mounted file system takes. The kernel grows a mounted ext4
// (EXT4_IOC_RESIZE_FS, what resize2fs uses on a mounted file system) only for a process with CAP_SYS_RESOURCE
// (ext4_resize_begin), a mounted xfs (XFS_IOC_FSGROWFSDATA, xfs_growfs) only for one with CAP_SYS_ADMIN. Measured
// with setpriv dropping each from root's bounding set (docs/node.md). Without the capability NodeOps never takes a
// file system's mounts down to grow it (a workload may hold them: issue 19); an unmounted ext4 needs no capability
// beyond opening the device, so `stage` grows it before mounting it.
#if canImport(Glibc)
import Glibc
#endif

/// Reads capability bits from /proc/self/status.
enum Capabilities {
    /// CAP_SYS_ADMIN.
    static let sysAdmin = 21
    /// CAP_SYS_RESOURCE.
    static let sysResource = 24

    static func effectiveHas(_ bit: Int) -> Bool {
        guard let status = try? readWholeFile("/proc/self/status"),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
              let mask = UInt64(line.dropFirst("CapEff:".count).trimmingCharacters(), radix: 16) else { return true }
        return mask & (1 << UInt64(bit)) != 0
    }
}

enum Ext4Growth {
    /// Whether the ext4 file system on `device` is smaller than the device by at least one block, from its
    /// superblock (1024 bytes at offset 1024; layout in the kernel's fs/ext4/ext4.h, `struct ext4_super_block`):
    /// s_blocks_count_lo at 0x4, s_log_block_size at 0x18, s_magic (0xEF53) at 0x38, s_feature_incompat at 0x60
    /// (INCOMPAT_64BIT 0x80), s_blocks_count_hi at 0x150. Read through the block device, which shares its page
    /// cache with a mounted file system's superblock buffer.
    static func ext4Smaller(device: LoopDevice) throws -> Bool {
        var superblock = [UInt8](repeating: 0, count: 1024)
        let read = try withFD(device.path, O_RDONLY) { fd in
            try superblock.withUnsafeMutableBytes { raw in
                try sys("pread", device.path) { pread(fd, raw.baseAddress, 1024, 1024) }
            }
        }
        func le(_ offset: Int, _ width: Int) -> UInt64 {
            (0..<width).reduce(UInt64(0)) { $0 | UInt64(superblock[offset + $1]) << (8 * UInt64($1)) }
        }
        guard read == 1024, le(0x38, 2) == 0xEF53, le(0x18, 4) < 16 else {
            throw NodeOpsError.fsMismatch(device: device.path, found: "no ext4 superblock", wanted: "ext4")
        }
        var blocks = le(0x4, 4)
        if le(0x60, 4) & 0x80 != 0 { blocks |= le(0x150, 4) << 32 }
        let blockSize = UInt64(1024) << le(0x18, 4)
        let deviceBytes = UInt64(try blockDeviceSize(major: LoopDevice.major, minor: UInt32(device.number)))
        return blocks < deviceBytes / blockSize
    }

    /// Before an ext4 on `device` is mounted: when it is smaller than the device, `e2fsck -f -p` (resize2fs wants a
    /// freshly checked file system) and `resize2fs`. The device must not be mounted anywhere.
    static func growExt4IfSmaller(device: LoopDevice) throws {
        guard try ext4Smaller(device: device) else { return }
        let check = try Command.capture("e2fsck", ["-f", "-p", device.path])
        guard check.status <= 1 else {  // 0: clean, 1: errors corrected
            throw NodeOpsError.commandFailed(command: "e2fsck -f -p \(device.path)", stderr: check.stderr + check.stdout, status: check.status)
        }
        try Command.run("resize2fs", [device.path])
    }
}

extension Substring {
    func trimmingCharacters() -> String {
        String(drop { $0.isWhitespace }).trimmingTrailingWhitespace
    }
}
