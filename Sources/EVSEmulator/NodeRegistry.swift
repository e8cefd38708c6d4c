// Which nodes (ECS servers, in EVS terms) exist: the emulator's answer to "attach this disk to server X".
//
// EVS refuses to attach a disk to a server that does not exist (ECS answers 404), so the emulator must know
// its servers. Each node plugin registers its node id when it starts (`evs-csi-driver --mode node|all`),
// and so does a controller started with `--node-id`. Node plugins do not open the metadata database (only
// the controller owns and reconciles it), so the registry is plain files beside it, one per node:
// `<stateDir>/nodes/<encoded id>`, holding the id. A registration outlives the process that made it, as a
// server outlives a restart of the software on it.
//
// Hazards: raw descriptors, closed by a `defer` right after they are opened. A file is written under a
// name unique to the writing process, then renamed into place, so a reader sees a whole id or none.
import FileBytes
import Glibc

/// The nodes known to the emulator's state directory. Stateless: every call reads or writes the files.
public struct NodeRegistry: Sendable {
    /// `<stateDir>/nodes`.
    public let directory: String

    /// The registry of the state directory `stateDirectory` (nothing is created until `register`).
    public init(stateDirectory: String) {
        directory = stateDirectory + "/nodes"
    }

    /// Records that node `id` exists. Idempotent. Creates the state directory and `nodes/` when missing.
    public func register(_ id: String) throws(DataFileError) {
        try DataFiles.makeDirectory(DataFiles.directory(of: directory))
        try DataFiles.makeDirectory(directory)
        let path = directory + "/" + Self.fileName(for: id)
        if content(of: path) == id { return }
        let tmp = "\(path).tmp.\(getpid())"
        let fd = try DataFiles.check("open", tmp) { open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644) }
        var renamed = false
        defer { if !renamed { unlink(tmp) } }
        do {
            defer { close(fd) }
            let bytes = Array(id.utf8)
            var written = 0
            while written < bytes.count {
                let n = try DataFiles.check("write", tmp) {
                    bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, bytes.count - written) }
                }
                written += n
            }
            try DataFiles.check("fsync", tmp) { fsync(fd) }
        }
        try DataFiles.check("rename", tmp) { rename(tmp, path) }
        renamed = true
        try DataFiles.syncDirectory(directory)
    }

    /// True when node `id` has registered.
    public func contains(_ id: String) -> Bool {
        !id.isEmpty && content(of: directory + "/" + Self.fileName(for: id)) == id
    }

    /// Every registered node id, sorted.
    public func all() -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var ids: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            guard !name.hasPrefix("."), !name.contains(".tmp."), let id = content(of: directory + "/" + name) else { continue }
            ids.append(id)
        }
        return ids.sorted()
    }

    /// The file name of a node id: the id with every byte but `A-Z a-z 0-9 . _ -` written as `%XX` (a leading
    /// `.` too), or, when that is longer than 200 bytes, `~` and a 64-bit FNV-1a hash of the id (the file's content,
    /// the whole id, tells two ids apart).
    static func fileName(for id: String) -> String {
        var name = ""
        for (index, byte) in id.utf8.enumerated() {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
                name.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: ".") where index > 0:
                name.append(".")
            default:
                let hex = Array("0123456789ABCDEF")
                name += "%" + String(hex[Int(byte >> 4)]) + String(hex[Int(byte & 15)])
            }
        }
        if name.utf8.count <= 200 && !name.isEmpty { return name }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in id.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        let digits = String(hash, radix: 16)
        return "~" + String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// The content of a registry file (at most 4 KiB), or nil when it is missing.
    private func content(of path: String) -> String? { FileBytes.text(path, limit: 4096) }
}

extension EVSEmulator {
    /// The nodes this emulator can attach disks to (`attach` refuses others with `notFound(kind: "node")`).
    public var nodes: NodeRegistry { NodeRegistry(stateDirectory: configuration.stateDirectory) }
}
