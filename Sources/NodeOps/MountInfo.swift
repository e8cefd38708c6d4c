#if canImport(Glibc)
import FileBytes
import Glibc
#endif

/// One line of /proc/self/mountinfo (see proc(5)):
/// `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`.
public struct MountEntry: Sendable, Equatable {
    /// Unique id of the mount.
    public var mountID: Int
    /// Id of the parent mount.
    public var parentID: Int
    /// Major number of the device holding the file system (`st_dev`).
    public var major: UInt32
    /// Minor number of the device holding the file system.
    public var minor: UInt32
    /// The directory of the file system that forms this mount's root (for a bind mount, the bound path).
    public var root: String
    /// Where it is mounted, relative to the process root, unescaped.
    public var mountPoint: String
    /// Per-mount options (`rw`, `ro`, `nosuid`, ...).
    public var mountOptions: [String]
    /// Optional fields (`shared:1`, `master:2`, ...), possibly none.
    public var optionalFields: [String]
    /// File system type (`ext4`, `xfs`, `devtmpfs`, ...).
    public var fsType: String
    /// Mount source (`/dev/loop3`, `tmpfs`, ...), unescaped.
    public var source: String
    /// Per-superblock options.
    public var superOptions: [String]

    /// Whether the mount itself is read-only.
    public var isReadOnly: Bool { mountOptions.contains("ro") }

    public init(mountID: Int, parentID: Int, major: UInt32, minor: UInt32, root: String, mountPoint: String,
                mountOptions: [String], optionalFields: [String], fsType: String, source: String, superOptions: [String]) {
        self.mountID = mountID
        self.parentID = parentID
        self.major = major
        self.minor = minor
        self.root = root
        self.mountPoint = mountPoint
        self.mountOptions = mountOptions
        self.optionalFields = optionalFields
        self.fsType = fsType
        self.source = source
        self.superOptions = superOptions
    }
}

/// The mount table of this process, parsed from /proc/self/mountinfo.
public struct MountTable: Sendable, Equatable {
    /// Entries in kernel order: a later entry for the same mount point is stacked on top of an earlier one.
    public var entries: [MountEntry]

    public init(entries: [MountEntry]) { self.entries = entries }

    /// Reads and parses /proc/self/mountinfo.
    public static func current() throws -> MountTable {
        try MountTable(parsing: readWholeFile("/proc/self/mountinfo"))
    }

    /// Parses mountinfo text; a malformed line throws `syscallFailed(call: "parse mountinfo", ..., EINVAL)`
    /// naming the line, because a table read wrongly would make every idempotency check lie.
    public init(parsing text: String) throws {
        var entries: [MountEntry] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            guard let entry = MountTable.parseLine(Substring(line)) else {
                throw NodeOpsError.syscallFailed(call: "parse mountinfo", path: String(line), errno: EINVAL)
            }
            entries.append(entry)
        }
        self.entries = entries
    }

    /// The topmost mount at `path` (compared literally; pass a canonical path), or nil.
    public func topmost(at path: String) -> MountEntry? {
        entries.last { $0.mountPoint == path }
    }

    /// Whether anything is mounted at `path`.
    public func isMountPoint(_ path: String) -> Bool { topmost(at: path) != nil }

    /// Every mount whose file system lives on block device `major:minor`.
    public func mounts(ofDevice major: UInt32, _ minor: UInt32) -> [MountEntry] {
        entries.filter { $0.major == major && $0.minor == minor }
    }

    /// Parses one line; nil when it does not have the documented shape.
    static func parseLine(_ line: Substring) -> MountEntry? {
        let fields = line.split(separator: " ", omittingEmptySubsequences: false)
        guard fields.count >= 10, let separator = fields[6...].firstIndex(of: "-"),
              fields.count - separator >= 4 else { return nil }
        let devParts = fields[2].split(separator: ":")
        guard let mountID = Int(fields[0]), let parentID = Int(fields[1]), devParts.count == 2,
              let major = UInt32(devParts[0]), let minor = UInt32(devParts[1]) else { return nil }
        return MountEntry(
            mountID: mountID,
            parentID: parentID,
            major: major,
            minor: minor,
            root: unescapeOctal(fields[3]),
            mountPoint: unescapeOctal(fields[4]),
            mountOptions: fields[5].split(separator: ",").map(String.init),
            optionalFields: fields[6..<separator].map(String.init),
            fsType: unescapeOctal(fields[separator + 1]),
            source: unescapeOctal(fields[separator + 2]),
            superOptions: fields[(separator + 3)...].joined(separator: " ").split(separator: ",").map(String.init))
    }

    /// Undoes the kernel's `\ooo` escaping of space, tab, newline and backslash (`\040`, `\011`, `\012`, `\134`).
    static func unescapeOctal(_ field: Substring) -> String {
        guard field.contains("\\") else { return String(field) }
        var bytes: [UInt8] = []
        let utf8 = Array(field.utf8)
        var i = 0
        while i < utf8.count {
            if utf8[i] == UInt8(ascii: "\\"), i + 3 < utf8.count {
                let digits = utf8[(i + 1)...(i + 3)]
                if digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "7") }) {
                    let value = digits.reduce(0) { $0 * 8 + Int($1 - UInt8(ascii: "0")) }
                    if value < 256 {
                        bytes.append(UInt8(value))
                        i += 4
                        continue
                    }
                }
            }
            bytes.append(utf8[i])
            i += 1
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Reads a whole (small, possibly procfs/sysfs) file through FileBytes (read(2) to the end; the size is not known in
/// advance); a failure is the `open` or `read` call's `syscallFailed`, a file over 16 MiB EFBIG.
func readWholeFile(_ path: String) throws -> String {
    do {
        return String(decoding: try FileBytes.read(path), as: UTF8.self)
    } catch {
        throw NodeOpsError.syscallFailed(call: error.call ?? "read", path: path, errno: error.code ?? EFBIG)
    }
}
