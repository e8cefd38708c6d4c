// What the node may remove: only mount points and what NodeOps itself created (docs/node.md "Trust").
#if canImport(Glibc)
import Glibc
#endif

/// The mode NodeOps creates its empty files with (a block target, a block staging's `block` file).
let createdFileMode: mode_t = 0o640

/// `lstat(2)`; nil when the path does not exist. Does not follow a final symbolic link.
func lstatOrNil(_ path: String) throws -> stat? {
    var st = stat()
    if lstat(path, &st) == 0 { return st }
    let code = Glibc.errno
    if code == ENOENT { return nil }
    throw NodeOpsError.syscallFailed(call: "lstat", path: path, errno: code)
}

func isSymbolicLink(_ st: stat) -> Bool { (st.st_mode & S_IFMT) == S_IFLNK }

/// Refuses a path whose last component is a symbolic link: unstage and unpublish act on the path a request
/// names, never on where a link points (another volume's mount, or a file of the host).
func refuseSymbolicLink(_ path: String) throws {
    if let st = try lstatOrNil(path), isSymbolicLink(st) { throw NodeOpsError.symbolicLink(path: path) }
}

/// Whether `st` looks like an empty file NodeOps created and has not used (mode 0640, empty, one link): what
/// an interrupted unpublish or unstage can leave behind after its unmount. Anything else is not ours.
func isLeftOverCreatedFile(_ st: stat) -> Bool {
    isRegularFile(st) && st.st_size == 0 && st.st_nlink == 1 && (st.st_mode & 0o7777) == createdFileMode
}
