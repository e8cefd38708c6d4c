import Testing
@testable import NodeOps
#if canImport(Glibc)
import Glibc
#endif

/// Pure tests: no privileges needed, they always run.
@Suite("mountinfo parsing and option handling")
struct MountInfoTests {
    static let sample = """
        22 27 0:21 / /proc rw,relatime - proc proc rw
        27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard
        36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 propagate_from:2 - ext3 /dev/root rw,errors=continue
        40 27 7:3 / /var/lib/kubelet/plugins/staging\\040dir/with\\011tab ro,nosuid - xfs /dev/loop3 ro,nouuid
        41 24 0:6 /loop3 /tmp/target\\134back\\012line rw - devtmpfs devtmpfs rw,size=1k
        """

    @Test("parses every field of a line with no optional fields")
    func plainLine() throws {
        let table = try MountTable(parsing: Self.sample)
        #expect(table.entries.count == 5)
        let proc = try #require(table.entries.first)
        #expect(proc == MountEntry(mountID: 22, parentID: 27, major: 0, minor: 21, root: "/", mountPoint: "/proc",
                                   mountOptions: ["rw", "relatime"], optionalFields: [], fsType: "proc",
                                   source: "proc", superOptions: ["rw"]))
    }

    @Test("optional fields: one, two, none; the separator '-' ends them")
    func optionalFields() throws {
        let table = try MountTable(parsing: Self.sample)
        #expect(table.entries[1].optionalFields == ["shared:1"])
        #expect(table.entries[2].optionalFields == ["master:1", "propagate_from:2"])
        #expect(table.entries[2].fsType == "ext3")
        #expect(table.entries[2].root == "/mnt1")
        #expect(table.entries[2].superOptions == ["rw", "errors=continue"])
        #expect(table.entries[3].optionalFields.isEmpty)
    }

    @Test("octal escapes \\040 \\011 \\012 \\134 are undone in mount point and root")
    func escapes() throws {
        let table = try MountTable(parsing: Self.sample)
        #expect(table.entries[3].mountPoint == "/var/lib/kubelet/plugins/staging dir/with\ttab")
        #expect(table.entries[3].isReadOnly)
        #expect(table.entries[3].major == 7 && table.entries[3].minor == 3)
        #expect(table.entries[4].mountPoint == "/tmp/target\\back\nline")
        #expect(table.entries[4].root == "/loop3")
        #expect(table.isMountPoint("/var/lib/kubelet/plugins/staging dir/with\ttab"))
        #expect(!table.isMountPoint("/var/lib/kubelet/plugins/staging\\040dir/with\\011tab"))
    }

    @Test("a backslash not followed by three octal digits is kept literally")
    func literalBackslash() {
        #expect(MountTable.unescapeOctal("/a\\9b") == "/a\\9b")
        #expect(MountTable.unescapeOctal("/end\\04") == "/end\\04")
        #expect(MountTable.unescapeOctal("/x\\040") == "/x ")
    }

    @Test("the topmost of stacked mounts is the last one listed")
    func stacked() throws {
        let table = try MountTable(parsing: """
            50 27 7:1 / /stack rw - ext4 /dev/loop1 rw
            51 50 7:2 / /stack rw - xfs /dev/loop2 rw
            """)
        #expect(table.topmost(at: "/stack")?.source == "/dev/loop2")
        #expect(table.mounts(ofDevice: 7, 1).map(\.mountID) == [50])
    }

    @Test("malformed lines are refused, not skipped", arguments: [
        "22 27 0:21 / /proc rw,relatime proc proc rw",           // no separator
        "x 27 0:21 / /proc rw - proc proc rw",                    // id not a number
        "22 27 021 / /proc rw - proc proc rw",                    // no major:minor
        "22 27 0:21 / /proc rw - proc",                           // fields after '-' missing
    ])
    func malformed(line: String) {
        #expect(throws: NodeOpsError.self) { try MountTable(parsing: line) }
    }

    @Test("the real /proc/self/mountinfo parses and has a root mount")
    func realTable() throws {
        let table = try MountTable.current()
        #expect(table.isMountPoint("/"))
    }

    @Test("mount options: known words become MS_* flags, the rest is file-system data", arguments: [
        (["ro", "noatime"], MountFlag.readOnly | MountFlag.noAtime, nil as String?),
        (["defaults", "rw"], 0, nil),
        (["nosuid,nodev", "discard"], MountFlag.noSuid | MountFlag.noDev, "discard"),
        (["noexec", "nouuid", "logbsize=64k"], MountFlag.noExec, "nouuid,logbsize=64k"),
    ])
    func mountOptions(words: [String], flags: UInt, data: String?) {
        let parsed = ParsedMountOptions(words)
        #expect(parsed.flags == flags)
        #expect(parsed.dataString == data)
    }

    @Test("fs types: empty means ext4, ext4/xfs accepted in any case, others unsupported", arguments: [
        ("", FileSystemType.ext4 as FileSystemType?), ("ext4", .ext4), ("XFS", .xfs), ("btrfs", nil), ("ntfs", nil),
    ])
    func fsTypes(name: String, expected: FileSystemType?) {
        if let expected {
            #expect((try? FileSystemType(csiName: name)) == expected)
        } else {
            #expect(throws: NodeOpsError.unsupportedFileSystem(name)) { try FileSystemType(csiName: name) }
        }
    }

    @Test("error messages name the path, the values and the errno")
    func messages() {
        #expect(NodeOpsError.fsMismatch(device: "/dev/loop2", found: "xfs", wanted: "ext4").description
                == "/dev/loop2 holds xfs, not the requested ext4; refusing to reformat a disk that holds data")
        #expect(NodeOpsError.syscallFailed(call: "mount", path: "/x", errno: 30).description.hasPrefix("mount(/x) failed: EROFS"))
        #expect(NodeOpsError.commandFailed(command: "mkfs.xfs -q /dev/loop1", stderr: "too small\n", status: 1).description
                == "mkfs.xfs -q /dev/loop1 failed with status 1: too small")
        #expect(NodeOpsError.alreadyInUseElsewhere(path: "/s", by: "ext4 on /dev/loop1 (/d/a.img)").description
                == "/s is already in use by ext4 on /dev/loop1 (/d/a.img)")
    }

    @Test("dev_t decoding matches glibc's major/minor encoding")
    func devDecoding() {
        // makedev(7, 3) and makedev(259, 1048577) in glibc's layout.
        #expect(deviceMajor(0x703) == 7 && deviceMinor(0x703) == 3)
        let big: dev_t = (dev_t(259 & 0xFFF) << 8) | (dev_t(259 & ~0xFFF) << 32) | dev_t(1_048_577 & 0xFF) | (dev_t(1_048_577 & ~0xFF) << 12)
        #expect(deviceMajor(big) == 259 && deviceMinor(big) == 1_048_577)
    }
}
