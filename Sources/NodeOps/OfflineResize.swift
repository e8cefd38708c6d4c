// ext4 growth without CAP_SYS_RESOURCE. The kernel's online resize (EXT4_IOC_RESIZE_FS, used by resize2fs on a
// mounted file system) demands CAP_SYS_RESOURCE; a container with CAP_SYS_ADMIN but not that capability can still
// unmount, resize offline and mount again. Hazard: between the unmounts and the re-mounts the volume is not visible;
// a mount that cannot be unmounted (EBUSY: files open) stops the operation and the mounts already taken down are
// put back, so the volume never ends up half-published.
#if canImport(Glibc)
import Glibc
#endif

/// Reads capability bits from /proc/self/status.
enum Capabilities {
    /// CAP_SYS_RESOURCE.
    static let sysResource = 24

    static func effectiveHas(_ bit: Int) -> Bool {
        guard let status = try? readWholeFile("/proc/self/status"),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
              let mask = UInt64(line.dropFirst("CapEff:".count).trimmingCharacters(), radix: 16) else { return true }
        return mask & (1 << UInt64(bit)) != 0
    }
}

enum OfflineResize {
    /// Unmounts every mount of `device`'s file system (binds first), runs `e2fsck -f -p` and `resize2fs`, and mounts
    /// them again: the first mount of the file-system root with its flags and super options, the others as binds of it.
    static func growExt4(device: LoopDevice, table: MountTable) throws {
        let mounts = table.mounts(ofDevice: LoopDevice.major, UInt32(device.number))
        guard let base = mounts.first(where: { $0.root == "/" }) else {
            throw NodeOpsError.notMounted(path: device.path)
        }
        var down: [MountEntry] = []
        do {
            for entry in mounts.reversed() {
                try sysUnmount(entry.mountPoint)
                down.append(entry)
            }
        } catch {
            try? remount(down.reversed(), base: base, device: device)
            throw error
        }
        // Every mount is down from here; whatever happens, put them back.
        var failure: Error?
        do {
            let check = try Command.capture("e2fsck", ["-f", "-p", device.path])
            guard check.status <= 1 else {  // 0: clean, 1: errors corrected
                throw NodeOpsError.commandFailed(command: "e2fsck -f -p \(device.path)", stderr: check.stderr + check.stdout, status: check.status)
            }
            try Command.run("resize2fs", [device.path])
        } catch {
            failure = error
        }
        try remount(mounts, base: base, device: device)
        if let failure { throw failure }
    }

    /// Mounts `entries` again in order; `base` is mounted from the device, every other entry as a bind of it.
    private static func remount<S: Sequence<MountEntry>>(_ entries: S, base: MountEntry, device: LoopDevice) throws {
        var firstError: Error?
        for entry in entries {
            do {
                if entry == base {
                    let options = ParsedMountOptions(entry.mountOptions + entry.superOptions)
                    try sysMount(source: device.path, target: entry.mountPoint, fsType: entry.fsType,
                                 flags: options.flags, data: options.dataString)
                } else {
                    let source = entry.root == "/" ? base.mountPoint : base.mountPoint + entry.root
                    try sysMount(source: source, target: entry.mountPoint, fsType: nil, flags: MountFlag.bind, data: nil)
                    let perMount = ParsedMountOptions(entry.mountOptions).flags & MountFlag.perMountMask
                    if perMount != 0 {
                        try sysMount(source: nil, target: entry.mountPoint, fsType: nil,
                                     flags: MountFlag.bind | MountFlag.remount | perMount, data: nil)
                    }
                }
            } catch {
                if firstError == nil { firstError = error }
            }
        }
        if let firstError { throw firstError }
    }
}

extension Substring {
    func trimmingCharacters() -> String {
        String(drop { $0.isWhitespace }).trimmingTrailingWhitespace
    }
}
