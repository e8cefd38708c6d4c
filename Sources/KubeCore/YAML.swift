import JSONCore

/// The YAML subset kubeconfig files use, read without Foundation or a YAML library: block mappings and block
/// sequences by indentation, plain / 'single' / "double" quoted scalars, flow collections on one line
/// (`{server: "https://h"}`, `[a, b]`), comments, one document. Anything else (anchors, aliases, tags, block
/// scalars, a flow collection over several lines) is an error naming the line, so a kubeconfig that cannot be
/// read fails loudly rather than being misread. The driver, the plugin and the scheduler all read kubeconfigs
/// with it (ConfigLoader). A file that starts with `{` is read as JSON (kubeconfigs may be JSON).
public enum KubeYAML {
    public static func parse(_ text: String) throws(KubeParseError) -> JSON {
        let trimmed = text.drop { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }
        if trimmed.first == "{" { return try json(text) }
        var parser = Parser(lines: Self.lines(text))
        guard parser.index < parser.lines.count else { return .object([:]) }
        let value = try parser.node(minIndent: 0)
        if parser.index < parser.lines.count {
            throw KubeParseError("YAML line \(parser.lines[parser.index].number): unexpected indentation")
        }
        return value
    }

    /// A JSON kubeconfig.
    static func json(_ text: String) throws(KubeParseError) -> JSON {
        do { return try JSON.parse(text) } catch { throw KubeParseError("JSON: \(error)") }
    }

    struct Line {
        var number: Int
        var indent: Int
        var text: Substring
    }

    /// Non-blank, non-comment lines with their indentation; `---` and `...` markers dropped.
    static func lines(_ text: String) -> [Line] {
        var result: [Line] = []
        for (offset, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).enumerated() {
            var line = raw
            if line.last == "\r" { line = line.dropLast() }
            let indent = line.prefix { $0 == " " }.count
            var content = line.dropFirst(indent)
            content = stripComment(content)
            while let last = content.last, last == " " || last == "\t" { content = content.dropLast() }
            if content.isEmpty || content == "---" || content == "..." { continue }
            result.append(Line(number: offset + 1, indent: indent, text: content))
        }
        return result
    }

    /// Drops a `#` comment that starts the line or follows a space, outside quotes.
    static func stripComment(_ text: Substring) -> Substring {
        var quote: Character?
        var previous: Character = " "
        for index in text.indices {
            let c = text[index]
            if let open = quote {
                if c == open { quote = nil }
            } else if c == "'" || c == "\"" {
                if previous == " " || previous == ":" || previous == "-" || index == text.startIndex { quote = c }
            } else if c == "#" && (previous == " " || previous == "\t") {
                return text[..<index]
            }
            previous = c
        }
        return text
    }

    struct Parser {
        var lines: [Line]
        var index = 0

        func fail(_ what: String) -> KubeParseError {
            let number = index < lines.count ? lines[index].number : (lines.last?.number ?? 0)
            return KubeParseError("YAML line \(number): \(what)")
        }

        static func isSequenceItem(_ text: Substring) -> Bool { text == "-" || text.hasPrefix("- ") }

        mutating func node(minIndent: Int) throws(KubeParseError) -> JSON {
            let line = lines[index]
            if line.indent < minIndent { throw fail("unexpected indentation") }
            return Self.isSequenceItem(line.text) ? try sequence(indent: line.indent) : try mapping(indent: line.indent)
        }

        mutating func sequence(indent: Int) throws(KubeParseError) -> JSON {
            var items: [JSON] = []
            while index < lines.count, lines[index].indent == indent, Self.isSequenceItem(lines[index].text) {
                let rest = lines[index].text.dropFirst()
                let spaces = rest.prefix { $0 == " " }.count
                let content = rest.dropFirst(spaces)
                if content.isEmpty {
                    index += 1
                    if index < lines.count, lines[index].indent > indent {
                        items.append(try node(minIndent: indent + 1))
                    } else {
                        items.append(.null)
                    }
                } else if Self.isSequenceItem(content) || (content.first != "{" && content.first != "[" && KubeYAML.keyValue(content) != nil) {
                    // "- key: value": the item is a mapping (or sequence) that starts at the content's column.
                    lines[index] = Line(number: lines[index].number, indent: indent + 1 + spaces, text: content)
                    items.append(try node(minIndent: indent + 1))
                } else {
                    items.append(try scalar(content))
                    index += 1
                }
            }
            return .array(items)
        }

        mutating func mapping(indent: Int) throws(KubeParseError) -> JSON {
            var members: [String: JSON] = [:]
            while index < lines.count, lines[index].indent == indent, !Self.isSequenceItem(lines[index].text) {
                guard let (rawKey, rawValue) = KubeYAML.keyValue(lines[index].text) else { throw fail("expected 'key: value'") }
                let key = try keyText(rawKey)
                if members[key] != nil { throw fail("duplicate key \(key)") }
                if rawValue.isEmpty {
                    index += 1
                    if index < lines.count, lines[index].indent > indent
                        || (lines[index].indent == indent && Self.isSequenceItem(lines[index].text)) {
                        members[key] = try node(minIndent: indent)
                    } else {
                        members[key] = .null
                    }
                } else {
                    members[key] = try scalar(rawValue)
                    index += 1
                }
            }
            if index < lines.count, lines[index].indent > indent { throw fail("unexpected indentation") }
            return .object(members)
        }

        func keyText(_ raw: Substring) throws(KubeParseError) -> String {
            if raw.first == "\"" || raw.first == "'" {
                guard case .string(let text) = try scalar(raw) else { throw fail("bad key") }
                return text
            }
            return String(raw)
        }

        func scalar(_ raw: Substring) throws(KubeParseError) -> JSON {
            switch raw.first {
            case "\"":
                // YAML's double-quoted escapes that kubeconfigs use are JSON's.
                do { return try JSON.parse(String(raw)) } catch { throw fail("bad double-quoted string") }
            case "'":
                guard raw.count >= 2, raw.last == "'" else { throw fail("unterminated single-quoted string") }
                let inner = raw.dropFirst().dropLast()
                var text = ""
                var iterator = inner.makeIterator()
                while let c = iterator.next() {
                    if c == "'" { guard iterator.next() == "'" else { throw fail("bad single-quoted string") } }
                    text.append(c)
                }
                return .string(text)
            case "{", "[":
                // A flow collection on one line (`{server: "https://h:1"}`, `args: [a, b]`), as hand-written
                // kubeconfigs use; one spanning lines is an error naming the line.
                var flow = Flow(text: raw)
                do throws(KubeParseError) {
                    let value = try flow.value()
                    flow.skipSpaces()
                    guard flow.index == raw.endIndex else { throw KubeParseError("text after the flow collection") }
                    return value
                } catch { throw fail("flow collection: \(error.description)") }
            case "&", "*", "!", "|", ">":
                throw fail("anchors, aliases, tags and block scalars are not supported")
            default:
                switch raw {
                case "null", "~", "Null", "NULL": return .null
                case "true", "True", "TRUE": return .bool(true)
                case "false", "False", "FALSE": return .bool(false)
                default: return .string(String(raw))
                }
            }
        }
    }

    /// One flow collection (`{k: v, ...}`, `[a, b]`) on one line: plain, quoted and nested values.
    struct Flow {
        let text: Substring
        var index: Substring.Index
        init(text: Substring) { self.text = text; index = text.startIndex }

        mutating func skipSpaces() { while index < text.endIndex, text[index] == " " || text[index] == "\t" { index = text.index(after: index) } }

        mutating func value() throws(KubeParseError) -> JSON {
            skipSpaces()
            guard index < text.endIndex else { throw KubeParseError("missing value") }
            switch text[index] {
            case "{": return try collection(close: "}", mapping: true)
            case "[": return try collection(close: "]", mapping: false)
            default: return try scalar(isKey: false)
            }
        }

        mutating func collection(close: Character, mapping: Bool) throws(KubeParseError) -> JSON {
            index = text.index(after: index)
            var members: [String: JSON] = [:]
            var items: [JSON] = []
            while true {
                skipSpaces()
                guard index < text.endIndex else { throw KubeParseError("missing \(close)") }
                if text[index] == close { index = text.index(after: index); break }
                if mapping {
                    guard case .string(let key) = try scalar(isKey: true) else { throw KubeParseError("a key must be a string") }
                    guard index < text.endIndex, text[index] == ":" else { throw KubeParseError("expected ':' after \(key)") }
                    index = text.index(after: index)
                    if members[key] != nil { throw KubeParseError("duplicate key \(key)") }
                    members[key] = try value()
                } else {
                    items.append(try value())
                }
                skipSpaces()
                guard index < text.endIndex else { throw KubeParseError("missing \(close)") }
                if text[index] == "," { index = text.index(after: index) } else if text[index] != close {
                    throw KubeParseError("expected ',' or \(close)")
                }
            }
            return mapping ? .object(members) : .array(items)
        }

        /// A quoted or plain scalar; a plain key ends at `: ` (or `:` before `,` `}` or the end), a plain value at `,` `]` `}`.
        mutating func scalar(isKey: Bool) throws(KubeParseError) -> JSON {
            skipSpaces()
            let start = index
            if index < text.endIndex, text[index] == "\"" || text[index] == "'" {
                let quote = text[index]
                index = text.index(after: index)
                while index < text.endIndex {
                    if text[index] == "\\" && quote == "\"" {
                        index = text.index(after: index)
                        if index < text.endIndex { index = text.index(after: index) }
                        continue
                    }
                    if text[index] == quote {
                        let next = text.index(after: index)
                        if quote == "'", next < text.endIndex, text[next] == "'" { index = text.index(after: next); continue }
                        index = next
                        let raw = text[start..<index]
                        skipSpaces()
                        return try Parser(lines: []).scalar(raw)
                    }
                    index = text.index(after: index)
                }
                throw KubeParseError("unterminated quoted string")
            }
            while index < text.endIndex {
                let c = text[index]
                if c == "," || c == "]" || c == "}" || c == "{" || c == "[" { break }
                if isKey, c == ":" {
                    let next = text.index(after: index)
                    if next == text.endIndex || text[next] == " " || text[next] == "," || text[next] == "}" { break }
                }
                index = text.index(after: index)
            }
            var raw = text[start..<index]
            while let last = raw.last, last == " " || last == "\t" { raw = raw.dropLast() }
            guard !raw.isEmpty else { return isKey ? .string("") : .null }
            return try Parser(lines: []).scalar(raw)
        }
    }

    /// Splits `key: value` or `key:` (the first `: ` or a final `:` outside quotes); nil if the line is no pair.
    static func keyValue(_ text: Substring) -> (Substring, Substring)? {
        var quote: Character?
        var index = text.startIndex
        if let first = text.first, first == "\"" || first == "'" {
            quote = first
            index = text.index(after: index)
            while index < text.endIndex, text[index] != first { index = text.index(after: index) }
            guard index < text.endIndex else { return nil }
            index = text.index(after: index)
            quote = nil
        }
        _ = quote
        while index < text.endIndex {
            if text[index] == ":" {
                let next = text.index(after: index)
                if next == text.endIndex { return (text[..<index], "") }
                if text[next] == " " || text[next] == "\t" {
                    let value = text[next...].drop { $0 == " " || $0 == "\t" }
                    return (text[..<index], value)
                }
            }
            index = text.index(after: index)
        }
        return nil
    }
}

/// A kubeconfig the reader cannot read; the message says where.
public struct KubeParseError: Error, Equatable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
