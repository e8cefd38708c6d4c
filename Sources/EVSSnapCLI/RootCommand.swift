import ArgumentParser
import Foundation

/// The plugin's version, printed by `kubectl evssnap version` and `--version`.
public let evssnapVersion = "v0.1.0"

/// Exit codes as the help text and plugin/README.md document them.
let exitCodeHelp = """
    Exit codes:
      0   done
      1   runtime or API error (Error from server, timeout, failed snapshot)
      2   refused by an Everest rule (R1-R14); nothing was changed
      64  usage error
    """

/// The permissions the commands need, as deploy/rbac-user.yaml grants them.
let rbacHelp = """
    Permissions: the Role evssnap-user (deploy/rbac-user.yaml, bound in the namespace) is all that create, \
    list, describe, delete and restore need. A rule whose facts are cluster-scoped (the CSIDriver, PVs, \
    StorageClasses, VolumeSnapshotClasses and VolumeSnapshotContents) is then checked from the namespace's \
    objects where it can be, else reported as "not verified" with the permission that would verify it, and \
    the command goes on (the driver enforces every rule itself). The optional read-only ClusterRole \
    evssnap-reader in the same file makes every check verified.
    """

/// `kubectl evssnap`: the root command.
public struct EVSSnap: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "kubectl evssnap",
        abstract: "Snapshot and restore EVS disks (Everest CSI), checking every Everest rule before acting.",
        discussion: """
            Every command checks the Everest snapshot rules (R1-R14, see docs/rules.md) first and refuses a \
            request that the cluster would leave stuck, saying which rule and what to do.

            \(rbacHelp)

            \(exitCodeHelp)
            """,
        version: evssnapVersion,
        subcommands: [
            CreateCommand.self, ListCommand.self, DescribeCommand.self, DeleteCommand.self,
            RestoreCommand.self, CheckCommand.self, ScheduleCommand.self, VersionCommand.self,
        ]
    )

    public init() {}
}

/// A subcommand that runs against an injected environment.
protocol EVSSnapCommand: AsyncParsableCommand {
    /// Runs the command (after ArgumentParser's `validate()`); throws `CLIError` for a refusal or runtime failure.
    func execute(in env: CommandEnvironment) async throws
}

extension EVSSnapCommand {
    /// Used when ArgumentParser's own `main()` runs a command; `EVSSnapMain.run` is the real entry point.
    public mutating func run() async throws {
        let code = await EVSSnapMain.execute(self, in: EVSSnapMain.liveEnvironment())
        if code != 0 { throw ExitCode(code) }
    }
}

/// The entry point of `kubectl-evssnap`: parses, runs, prints errors the kubectl way, returns the exit code.
public enum EVSSnapMain {
    /// Parses `arguments` (without the program name), runs the command in `env`, and returns the exit status.
    /// Help goes to stdout with status 0; usage errors print ArgumentParser's message with status 64;
    /// runtime errors print one line on stderr and no usage.
    public static func run(arguments: [String], in env: CommandEnvironment) async -> Int32 {
        if Profile.enabled, Profile.startToMain == nil { Profile.startToMain = Profile.sinceProcessStart() }
        defer { Profile.report(to: env.console) }
        let command: any ParsableCommand
        do {
            command = try EVSSnap.parseAsRoot(normalize(arguments))
            guard command is any EVSSnapCommand else {
                // `--help`, `help CMD` (ArgumentParser's HelpCommand throws its text) or the bare root.
                var builtIn = command
                try builtIn.run()
                env.console.out.write(EVSSnap.helpMessage(columns: env.helpColumns) + "\n")
                return ExitStatus.success.rawValue
            }
        } catch {
            return report(parseError: error, in: env)
        }
        let runnable = command as! any EVSSnapCommand
        return await execute(runnable, in: env)
    }

    /// kubectl (pflag) accepts `-v=6`, `-n=apps`, `-o=yaml`; ArgumentParser wants `-v 6`. Splits such
    /// single-letter `-x=value` arguments in two; everything after `--` is left alone.
    static func normalize(_ arguments: [String]) -> [String] {
        var out: [String] = []
        var passThrough = false
        for a in arguments {
            if passThrough || a == "--" { passThrough = true; out.append(a); continue }
            let chars = Array(a)
            if chars.count >= 3, chars[0] == "-", chars[1].isLetter, chars[2] == "=" {
                out += [String(chars[0...1]), String(chars[3...])]
            } else {
                out.append(a)
            }
        }
        return out
    }

    /// Prints a parse error or a help/version request the way ArgumentParser words them.
    static func report(parseError error: any Error, in env: CommandEnvironment) -> Int32 {
        let code = EVSSnap.exitCode(for: error)
        let message = EVSSnap.fullMessage(for: error, columns: env.helpColumns)
        if code == .success {
            if !message.isEmpty { env.console.out.write(message + "\n") }
        } else {
            env.console.err.write(message + "\n")
        }
        return code.rawValue
    }

    /// Runs a parsed command and maps its error to stderr text and an exit status.
    static func execute(_ command: any EVSSnapCommand, in env: CommandEnvironment) async -> Int32 {
        // Each command reads the driver's published rule settings into its own box.
        await Rules.$current.withValue(Rules.SettingsBox()) { await run(command, in: env) }
    }

    private static func run(_ command: any EVSSnapCommand, in env: CommandEnvironment) async -> Int32 {
        do {
            try await command.execute(in: env)
            return ExitStatus.success.rawValue
        } catch let e as CLIError {
            env.console.printError(e.description)
            return e.exitStatus.rawValue
        } catch let e as APIError {
            env.console.printError(e.description)
            return ExitStatus.failure.rawValue
        } catch let e as ExitCode {
            return e.rawValue
        } catch let e as ValidationError {
            env.console.printError("error: \(e.message)")
            return ExitStatus.usage.rawValue
        } catch {
            env.console.printError("error: \(describe(error))")
            return ExitStatus.failure.rawValue
        }
    }

    /// One line for an error that is neither a rule nor an API status (connection refused, TLS, file not found).
    static func describe(_ error: any Error) -> String {
        let text = String(describing: error)
        return text.isEmpty ? "\(type(of: error))" : text
    }
}

/// `kubectl evssnap version`.
struct VersionCommand: EVSSnapCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "Print the plugin version.",
        usage: "kubectl evssnap version",
        discussion: "Prints the client version only; it needs no cluster.\n\n\(exitCodeHelp)"
    )

    func execute(in env: CommandEnvironment) async throws {
        env.console.print("kubectl-evssnap \(evssnapVersion)")
    }
}
