import Foundation

/// The output of one external command that exited.
struct CommandResult: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs every external command NodeOps needs (blkid, mkfs.*, resize2fs, xfs_growfs) through Foundation `Process`,
/// with a fixed PATH and `LC_ALL=C`, capturing stdout and stderr.
enum Command {
    /// Directories searched for a tool, in order.
    static let searchPath = ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/local/bin"]

    /// Runs `tool args...` and returns its status and output; throws `commandFailed` (status -1) only when
    /// the tool cannot be found or started. `run(_:_:)` is the throwing variant for status != 0.
    static func capture(_ tool: String, _ arguments: [String]) throws -> CommandResult {
        let rendered = ([tool] + arguments).joined(separator: " ")
        guard let executable = locate(tool) else {
            throw NodeOpsError.commandFailed(command: rendered, stderr: "\(tool): not found in \(searchPath.joined(separator: ":"))", status: -1)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ["PATH": searchPath.joined(separator: ":"), "LC_ALL": "C"]
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw NodeOpsError.commandFailed(command: rendered, stderr: "cannot start: \(error)", status: -1)
        }
        // Drain stdout on another thread while this one drains stderr, so neither pipe can fill up and block the child.
        let stdoutBox = OutputBox()
        let group = DispatchGroup()
        let stdoutHandle = out.fileHandleForReading
        DispatchQueue.global().async(group: group) {
            stdoutBox.data = stdoutHandle.readDataToEndOfFile()
        }
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return CommandResult(
            status: process.terminationStatus,
            stdout: String(decoding: stdoutBox.data, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self))
    }

    /// Runs `tool args...`; a non-zero exit becomes `commandFailed` with the captured stderr.
    @discardableResult
    static func run(_ tool: String, _ arguments: [String]) throws -> CommandResult {
        let result = try capture(tool, arguments)
        guard result.status == 0 else {
            throw NodeOpsError.commandFailed(
                command: ([tool] + arguments).joined(separator: " "),
                stderr: result.stderr.isEmpty ? result.stdout : result.stderr,
                status: result.status)
        }
        return result
    }

    static func locate(_ tool: String) -> String? {
        if tool.hasPrefix("/") { return access(tool, X_OK) == 0 ? tool : nil }
        for dir in searchPath where access(dir + "/" + tool, X_OK) == 0 {
            return dir + "/" + tool
        }
        return nil
    }
}

/// Holds the stdout bytes written by the reader thread; read only after `DispatchGroup.wait()`,
/// which orders the write before the read, hence `@unchecked Sendable`.
private final class OutputBox: @unchecked Sendable {
    var data = Data()
}
