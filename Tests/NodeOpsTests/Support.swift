import Foundation
import Testing
@testable import NodeOps
#if canImport(Glibc)
import Glibc
#endif

/// Whether this process can run the privileged tests: root, /dev/loop-control, and a working mount(2).
/// Computed once; the reason is printed each time a suite asks, so a skip is never silent.
enum Privileges {
    static let skipReason: String? = {
        if getuid() != 0 { return "not running as root (uid \(getuid()))" }
        if access("/dev/loop-control", R_OK | W_OK) != 0 { return "/dev/loop-control is missing or not accessible" }
        for tool in ["blkid", "mkfs.ext4", "resize2fs"] where Command.locate(tool) == nil {
            return "\(tool) is not installed (apt-get install e2fsprogs util-linux)"
        }
        var template = Array("/tmp/nodeops-probe-XXXXXX".utf8CString)
        guard let dir = mkdtemp(&template) else { return "mkdtemp failed" }
        let path = String(cString: dir)
        defer { rmdir(path) }
        do {
            try sysMount(source: "tmpfs", target: path, fsType: "tmpfs", flags: 0, data: "size=1m")
            try sysUnmount(path)
        } catch {
            return "mount(2) of a tmpfs failed: \(error)"
        }
        return nil
    }()

    /// True when the privileged tests can run; otherwise prints (once) why they are skipped.
    static let available: Bool = {
        guard let skipReason else { return true }
        print("NodeOps privileged tests SKIPPED: \(skipReason)")
        return false
    }()

    /// The skip reason as a test comment, shown by the runner next to each skipped test.
    static var comment: Comment {
        Comment(rawValue: "needs root, /dev/loop-control and mount(2): " + (skipReason ?? "all present"))
    }

    static let xfsAvailable: Bool = {
        guard available else { return false }
        if Command.locate("mkfs.xfs") == nil || Command.locate("xfs_growfs") == nil {
            print("NodeOps xfs tests SKIPPED: xfsprogs is not installed")
            return false
        }
        return true
    }()
}

/// A scratch directory with sparse images, staging and target paths. `cleanUp` unmounts and detaches everything
/// under it (whatever a failed test left behind) and removes it.
final class Workspace {
    let root: String
    let ops = NodeOperations()

    init() throws {
        var template = Array("/tmp/nodeops-test-XXXXXX".utf8CString)
        guard let dir = mkdtemp(&template) else { throw NodeOpsError.syscallFailed(call: "mkdtemp", path: "/tmp", errno: errno) }
        root = String(cString: dir)
    }

    func path(_ name: String) -> String { root + "/" + name }

    /// Creates (or grows) a sparse image of `mib` MiB and returns its path.
    @discardableResult
    func image(_ name: String, mib: Int) throws -> String {
        let file = path(name)
        let fd = try sys("open", file) { open(file, O_CREAT | O_RDWR | O_CLOEXEC, 0o600) }
        defer { close(fd) }
        try sys("ftruncate", file) { ftruncate(fd, off_t(mib) << 20) }
        return file
    }

    /// Loop devices bound to files in this workspace, by device and inode numbers (the kernel's path text names a
    /// file through the mount it was opened by, which a test may have taken away).
    func loops() throws -> [LoopDevice] {
        let identities = Set((FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? [])
            .compactMap { try? FileIdentity.of(root + "/" + $0) })
        return try LoopDevices.all().filter { $0.backingFile.hasPrefix(root + "/") || $0.backing.map(identities.contains) == true }
    }

    /// Mount points in this workspace.
    func mounts() throws -> [String] {
        try MountTable.current().entries.map(\.mountPoint).filter { $0.hasPrefix(root + "/") }
    }

    /// Loop devices and mounts together, for before/after comparisons.
    func snapshot() throws -> [String] {
        try loops().map(\.description) + mounts()
    }

    func cleanUp() {
        let mounted = ((try? mounts()) ?? []).sorted { $0.count > $1.count }
        for mountPoint in mounted { umount2(mountPoint, Int32(MNT_DETACH)) }
        for device in (try? loops()) ?? [] {
            try? LoopDevices.detach(device)
        }
        try? FileManager.default.removeItem(atPath: root)
    }

    func write(_ text: String, to file: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
    }

    func read(_ file: String) throws -> String {
        String(decoding: try Data(contentsOf: URL(fileURLWithPath: file)), as: UTF8.self)
    }
}

/// Runs `body` in a fresh workspace and always cleans it up; afterwards checks that cleanup left nothing behind.
func withWorkspace(_ body: (Workspace) throws -> Void) throws {
    let ws = try Workspace()
    defer {
        ws.cleanUp()
        if let leftover = try? LoopDevices.all().filter({ $0.backingFile.hasPrefix(ws.root + "/") }), !leftover.isEmpty {
            Issue.record("cleanup left loop devices bound: \(leftover)")
        }
    }
    try body(ws)
}

/// errno of `open(path, flags)`, or 0 when it succeeded (the descriptor is closed).
func openErrno(_ path: String, _ flags: Int32) -> Int32 {
    let fd = open(path, flags | O_CLOEXEC, 0o644)
    if fd >= 0 { close(fd); return 0 }
    return errno
}
