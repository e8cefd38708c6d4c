/// What a device holds, according to `blkid -p` (a low-level probe that reads the device, not the blkid cache).
enum DeviceContent: Equatable {
    /// No signature at all: safe to format.
    case blank
    /// A file system of this type (`ext4`, `xfs`, `swap`, ...).
    case fileSystem(String)
    /// Something else that is not blank (a partition table, an ambiguous probe); never formatted.
    case other(String)
}

/// Probing and creating file systems; both through `Command`.
enum FileSystemProbe {
    /// `blkid -p -o export <device>`: exit 2 means no signature was found; exit 0 lists TYPE or PTTYPE; anything else
    /// (notably 8, "ambivalent result") is treated as "holds something" so the device is never formatted.
    static func probe(_ device: String) throws -> DeviceContent {
        let result = try Command.capture("blkid", ["-p", "-o", "export", device])
        switch result.status {
        case 2:
            return .blank
        case 0:
            var values: [String: String] = [:]
            for line in result.stdout.split(separator: "\n") {
                guard let eq = line.firstIndex(of: "=") else { continue }
                values[String(line[..<eq])] = String(line[line.index(after: eq)...])
            }
            if let type = values["TYPE"] { return .fileSystem(type) }
            if let table = values["PTTYPE"] { return .other("a \(table) partition table") }
            return .other("an unrecognised signature")
        case 8:
            return .other("several conflicting signatures (blkid: ambivalent probe)")
        default:
            throw NodeOpsError.commandFailed(command: "blkid -p -o export \(device)", stderr: result.stderr, status: result.status)
        }
    }

    /// Creates `type` on a blank device: `mkfs.ext4 -F -q` or `mkfs.xfs -q`.
    static func makeFileSystem(_ type: FileSystemType, on device: String) throws {
        switch type {
        case .ext4: try Command.run("mkfs.ext4", ["-F", "-q", device])
        case .xfs: try Command.run("mkfs.xfs", ["-q", device])
        }
    }
}
