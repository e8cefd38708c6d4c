// The other half of every fuzz target: in an ordinary build (no -DFUZZING) a target's `main` replays the files and
// directories it is given through the same entry point libFuzzer calls, so `make test` replays the corpus without
// the fuzzing toolchain, and `make asan` does so under AddressSanitizer.
#if canImport(Glibc)
import Glibc
#endif

/// The signature of `LLVMFuzzerTestOneInput`.
public typealias FuzzEntryPoint = (UnsafePointer<UInt8>?, Int) -> CInt

public enum FuzzReplay {
    /// Runs `entry` over every file named on the command line (directories: their regular files, in name order).
    /// Arguments starting with `-` (libFuzzer flags such as `-runs=0`) are ignored, except `-v`, which prints
    /// each file before running it. Exits 1 when a path cannot be read or nothing was replayed; an input that
    /// crashes ends the process, as it would under libFuzzer.
    public static func main(_ entry: FuzzEntryPoint) -> Never {
        let arguments = CommandLine.arguments.dropFirst()
        let verbose = arguments.contains("-v")
        var files: [String] = []
        for path in arguments where !path.hasPrefix("-") {
            guard let found = regularFiles(at: path) else {
                printError("\(CommandLine.arguments[0]): cannot read \(path)\n")
                exit(1)
            }
            files += found
        }
        if files.isEmpty {
            printError("usage: \(CommandLine.arguments[0]) [-v] FILE|DIR...  (replays the inputs; built with -DFUZZING it is a libFuzzer target)\n")
            exit(1)
        }
        for file in files {
            if verbose { printError("Running: \(file)\n") }
            guard let bytes = contents(of: file) else {
                printError("\(CommandLine.arguments[0]): cannot read \(file)\n")
                exit(1)
            }
            _ = bytes.withUnsafeBufferPointer { entry($0.baseAddress, $0.count) }
        }
        print("\(CommandLine.arguments[0].split(separator: "/").last ?? ""): replayed \(files.count) inputs, no crash")
        exit(0)
    }

    /// The file itself, or a directory's regular files sorted by name; nil when `path` cannot be read.
    static func regularFiles(at path: String) -> [String]? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        if (info.st_mode & S_IFMT) != S_IFDIR { return [path] }
        guard let dir = opendir(path) else { return nil }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name.hasPrefix(".") { continue }
            var child = stat()
            if stat(path + "/" + name, &child) == 0, (child.st_mode & S_IFMT) == S_IFREG { names.append(name) }
        }
        return names.sorted().map { path + "/" + $0 }
    }

    static func contents(of path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; return nil }
            if n == 0 { return bytes }
            bytes += chunk[0..<n]
        }
    }
}

/// The bytes libFuzzer passes, as an array (an empty input may come with a null pointer).
public func fuzzInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: size))
}

/// Writes `text` to standard error (fd 2; Glibc's `stderr` is shared mutable state to Swift 6).
func printError(_ text: String) {
    var bytes = Array(text.utf8)
    bytes.withUnsafeMutableBytes { raw in _ = write(2, raw.baseAddress, raw.count) }
}
