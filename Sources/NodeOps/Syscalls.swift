// Every system call NodeOps makes goes through `sys(_:_:_:)`, which retries EINTR and turns -1 + errno
// into `NodeOpsError.syscallFailed`. The hazards here: file descriptors must be closed on every path
// (`withFD` owns them), and ioctl numbers are written out by hand from <linux/loop.h> and <linux/fs.h>
// because those headers are not part of the Glibc module.
#if canImport(Glibc)
import Glibc
#endif

/// Calls `body` until it does not fail with EINTR; a -1 result becomes `syscallFailed(name, path, errno)`.
@discardableResult
func sys<T: FixedWidthInteger>(_ name: String, _ path: String, _ body: () -> T) throws -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let code = Glibc.errno
        if code == EINTR { continue }
        throw NodeOpsError.syscallFailed(call: name, path: path, errno: code)
    }
}

/// ioctl request numbers (from <linux/loop.h> and <linux/fs.h>).
enum IoctlRequest {
    /// `LOOP_SET_FD`: bind a loop device to an open file.
    static let loopSetFD: UInt = 0x4C00
    /// `LOOP_CLR_FD`: unbind a loop device.
    static let loopClearFD: UInt = 0x4C01
    /// `LOOP_SET_CAPACITY`: re-read the backing file's size.
    static let loopSetCapacity: UInt = 0x4C07
    /// `LOOP_GET_STATUS64`: a bound device's `struct loop_info64` (backing file's device and inode numbers first).
    static let loopGetStatus64: UInt = 0x4C05
    /// `LOOP_CTL_GET_FREE` on /dev/loop-control: the number of a free loop device (created if needed).
    static let loopControlGetFree: UInt = 0x4C82
    /// `BLKGETSIZE64`: a block device's size in bytes.
    static let blockGetSize64: UInt = 0x8008_1272
}

/// Opens `path`, runs `body` with the descriptor and closes it on every path.
@discardableResult
func withFD<R>(_ path: String, _ flags: Int32, _ body: (Int32) throws -> R) throws -> R {
    let fd = try sys("open", path) { open(path, flags | O_CLOEXEC) }
    defer { close(fd) }
    return try body(fd)
}

/// `stat(2)`; nil when the path does not exist.
func statOrNil(_ path: String) throws -> stat? {
    var st = stat()
    if stat(path, &st) == 0 { return st }
    let code = Glibc.errno
    if code == ENOENT { return nil }
    throw NodeOpsError.syscallFailed(call: "stat", path: path, errno: code)
}

/// `fstat(2)` of an open descriptor.
func fileStatus(_ fd: Int32, _ path: String) throws -> stat {
    var st = stat()
    try sys("fstat", path) { fstat(fd, &st) }
    return st
}

func isDirectory(_ st: stat) -> Bool { (st.st_mode & S_IFMT) == S_IFDIR }
func isRegularFile(_ st: stat) -> Bool { (st.st_mode & S_IFMT) == S_IFREG }
func isBlockDevice(_ st: stat) -> Bool { (st.st_mode & S_IFMT) == S_IFBLK }

/// `major(3)` / `minor(3)` of a dev_t (glibc's encoding; the macros are not imported).
func deviceMajor(_ dev: dev_t) -> UInt32 {
    UInt32(truncatingIfNeeded: ((dev >> 32) & 0xFFFF_F000) | ((dev >> 8) & 0x0000_0FFF))
}
func deviceMinor(_ dev: dev_t) -> UInt32 {
    UInt32(truncatingIfNeeded: ((dev >> 12) & 0xFFFF_FF00) | (dev & 0x0000_00FF))
}

/// `makedev(3)` in glibc's encoding (the macro is not imported).
func makeDevice(major: UInt32, minor: UInt32) -> dev_t {
    let major = dev_t(major), minor = dev_t(minor)
    return ((major & 0xFFFF_F000) << 32) | ((major & 0x0000_0FFF) << 8) | ((minor & 0xFFFF_FF00) << 12) | (minor & 0x0000_00FF)
}

/// `realpath(3)`; nil when the path does not exist.
func canonicalPath(_ path: String) throws -> String? {
    guard let resolved = realpath(path, nil) else {
        let code = Glibc.errno
        if code == ENOENT { return nil }
        throw NodeOpsError.syscallFailed(call: "realpath", path: path, errno: code)
    }
    defer { free(resolved) }
    return String(cString: resolved)
}

/// `mkdir -p`; returns the directories it created, outermost first, so a caller can undo them.
func makeDirectories(_ path: String) throws -> [String] {
    var created: [String] = []
    var prefix = path.hasPrefix("/") ? "" : "."
    for component in path.split(separator: "/") {
        prefix += "/" + component
        if let st = try statOrNil(prefix) {
            guard isDirectory(st) else {
                throw NodeOpsError.syscallFailed(call: "mkdir", path: prefix, errno: ENOTDIR)
            }
            continue
        }
        let dir = prefix
        do {
            try sys("mkdir", dir) { mkdir(dir, 0o750) }
            created.append(dir)
        } catch NodeOpsError.syscallFailed(_, _, EEXIST) {
            continue
        }
    }
    return created
}

/// Removes directories returned by `makeDirectories`, innermost first; best effort (used to undo).
func removeDirectories(_ created: [String]) {
    for dir in created.reversed() { rmdir(dir) }
}

/// `mount(2)`.
func sysMount(source: String?, target: String, fsType: String?, flags: UInt, data: String?) throws {
    let result: Int32 = withOptionalCString(source) { src in
        withOptionalCString(fsType) { type in
            withOptionalCString(data) { dataPointer in
                var r: Int32
                repeat {
                    r = mount(src, target, type, flags, dataPointer.map { UnsafeRawPointer($0) })
                } while r == -1 && Glibc.errno == EINTR
                return r
            }
        }
    }
    if result == -1 {
        throw NodeOpsError.syscallFailed(call: "mount", path: target, errno: Glibc.errno)
    }
}

/// `umount2(2)` without flags.
func sysUnmount(_ target: String) throws {
    try sys("umount", target) { umount2(target, 0) }
}

private func withOptionalCString<R>(_ s: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let s else { return body(nil) }
    return s.withCString { body($0) }
}

/// Mount flags from <sys/mount.h> (`MS_*`), named because Glibc imports them as an untyped enum.
enum MountFlag {
    static let readOnly: UInt = 1            // MS_RDONLY
    static let noSuid: UInt = 2              // MS_NOSUID
    static let noDev: UInt = 4               // MS_NODEV
    static let noExec: UInt = 8              // MS_NOEXEC
    static let synchronous: UInt = 16        // MS_SYNCHRONOUS
    static let remount: UInt = 32            // MS_REMOUNT
    static let dirSync: UInt = 128           // MS_DIRSYNC
    static let noAtime: UInt = 1024          // MS_NOATIME
    static let noDirAtime: UInt = 2048       // MS_NODIRATIME
    static let bind: UInt = 4096             // MS_BIND
    static let relAtime: UInt = 1 << 21      // MS_RELATIME
    static let strictAtime: UInt = 1 << 24   // MS_STRICTATIME
    static let lazyTime: UInt = 1 << 25      // MS_LAZYTIME

    /// Flags that a bind remount can change per mount point.
    static let perMountMask: UInt = readOnly | noSuid | noDev | noExec | noAtime | noDirAtime | relAtime | strictAtime
}

/// Mount options split the way mount(8) does: known words become `MS_*` flags, the rest is
/// the file system's data string.
struct ParsedMountOptions: Equatable {
    var flags: UInt = 0
    var data: [String] = []

    init(_ options: [String]) {
        for option in options.flatMap({ $0.split(separator: ",").map(String.init) }) {
            switch option {
            case "", "defaults", "rw", "auto", "noauto", "nouser", "async", "atime", "diratime", "suid", "dev", "exec":
                continue  // the kernel defaults, or mount(8)-only words
            case "ro": flags |= MountFlag.readOnly
            case "nosuid": flags |= MountFlag.noSuid
            case "nodev": flags |= MountFlag.noDev
            case "noexec": flags |= MountFlag.noExec
            case "sync": flags |= MountFlag.synchronous
            case "dirsync": flags |= MountFlag.dirSync
            case "noatime": flags |= MountFlag.noAtime
            case "nodiratime": flags |= MountFlag.noDirAtime
            case "relatime": flags |= MountFlag.relAtime
            case "strictatime": flags |= MountFlag.strictAtime
            case "lazytime": flags |= MountFlag.lazyTime
            default: data.append(option)
            }
        }
    }

    var dataString: String? { data.isEmpty ? nil : data.joined(separator: ",") }
}
