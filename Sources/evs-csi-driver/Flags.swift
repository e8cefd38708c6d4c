// The driver's command line, without swift-argument-parser: that package alone brings FoundationEssentials,
// _FoundationCollections, _StringProcessing and _RegexParser into the process (about 1.5 MiB resident in the lean
// build, docs/driver.md "The lean build"), for a command that only reads flags.
//
// Accepted forms: `--name value`, `--name=value`, a flag given again overrides (a repeatable one accumulates),
// `-h`/`--help`, `--version`. A usage error prints "Error: ..." and the usage line to standard error, exit 64.
import Glibc

/// A usage error: the message names the flag and the value.
struct UsageError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

/// What the command line asks for, read against a list of known flags.
struct Flags {
    /// One known flag: its long name (without `--`), its value's placeholder, its help and its default as shown.
    struct Spec {
        var name: String
        var value: String
        var help: String
        var shownDefault: String?
        var repeatable = false
    }

    enum Outcome {
        case run(Flags)
        case help
        case version
    }

    let specs: [Spec]
    private var values: [String: [String]] = [:]

    /// Reads `arguments` (without the program name). Every argument must be a known flag with its value.
    static func parse(_ arguments: [String], specs: [Spec]) throws(UsageError) -> Outcome {
        var flags = Flags(specs: specs)
        let known = Dictionary(uniqueKeysWithValues: specs.map { ($0.name, $0) })
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if argument == "-h" || argument == "--help" { return .help }
            if argument == "--version" { return .version }
            guard argument.hasPrefix("--"), argument.count > 2 else {
                throw UsageError("Unexpected argument '\(argument)'")
            }
            var name = String(argument.dropFirst(2))
            var value: String?
            if let equals = name.firstIndex(of: "=") {
                value = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }
            guard let spec = known[name] else { throw UsageError("Unknown option '--\(name)'") }
            if value == nil {
                guard index < arguments.count else { throw UsageError("Missing value for '--\(name) <\(spec.value)>'") }
                value = arguments[index]
                index += 1
            }
            if spec.repeatable { flags.values[name, default: []].append(value!) } else { flags.values[name] = [value!] }
        }
        return .run(flags)
    }

    private init(specs: [Spec]) { self.specs = specs }

    /// The flag's value, or nil when it was not given.
    func string(_ name: String) -> String? { values[name]?.last }

    /// Every value of a repeatable flag, or nil when it was not given.
    func list(_ name: String) -> [String]? { values[name] }

    /// The flag's value as a whole number, or nil when it was not given.
    func int(_ name: String) throws(UsageError) -> Int? {
        guard let text = string(name) else { return nil }
        guard let number = Int(text) else { throw UsageError("The value '\(text)' is invalid for '--\(name) <\(spec(name).value)>'") }
        return number
    }

    /// The flag's value as one of `T`'s cases, or nil when it was not given.
    func choice<T: RawRepresentable & CaseIterable>(_ name: String, as type: T.Type) throws(UsageError) -> T?
    where T.RawValue == String {
        guard let text = string(name) else { return nil }
        guard let value = T(rawValue: text) else {
            let cases = T.allCases.map(\.rawValue).joined(separator: ", ")
            throw UsageError("The value '\(text)' is invalid for '--\(name) <\(spec(name).value)>'. Please provide one of: \(cases)")
        }
        return value
    }

    private func spec(_ name: String) -> Spec { specs.first { $0.name == name }! }

    /// The help text: abstract, usage, options (with defaults) and the discussion.
    static func help(command: String, abstract: String, discussion: String, specs: [Spec]) -> String {
        var lines = ["OVERVIEW: \(abstract)", "", discussion, "", "USAGE: \(command) [<options>]", "", "OPTIONS:"]
        for spec in specs {
            lines.append("  --\(spec.name) <\(spec.value)>")
            var help = spec.help
            if let shown = spec.shownDefault { help += " (default: \(shown))" }
            lines.append("                          \(help)")
        }
        lines.append("  --version               Show the version.")
        lines.append("  -h, --help              Show help information.")
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Writes `text` to standard error, unbuffered.
func printError(_ text: String) {
    var bytes = Array(text.utf8)
    bytes.withUnsafeMutableBytes { buffer in
        var offset = 0
        while offset < buffer.count {
            let written = write(2, buffer.baseAddress! + offset, buffer.count - offset)
            if written <= 0 { break }
            offset += written
        }
    }
}
