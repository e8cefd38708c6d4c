import Foundation
import JSONCore
import Testing

/// JSONTestSuite (github.com/nst/JSONTestSuite), test_parsing: y_ files must parse, n_ files must be refused, and
/// each i_ file (RFC 8259 leaves them to the parser) must come out as docs/json.md's table decides. Read in place
/// from ../shared/json-test-suite next to the checkout; without that folder the suite says so and is skipped.
@Suite("JSONTestSuite (outside reference)")
struct JSONTestSuiteTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let folder = repo.deletingLastPathComponent().appendingPathComponent("shared/json-test-suite/test_parsing")
    static let present = FileManager.default.fileExists(atPath: folder.path)

    static func cases(_ prefix: String) -> [String] {
        guard present else { return [] }
        return ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])
            .filter { $0.hasPrefix(prefix) && $0.hasSuffix(".json") }.sorted()
    }

    static func outcome(_ name: String) throws -> Result<JSON, JSONParseError> {
        let data = try Data(contentsOf: folder.appendingPathComponent(name))
        return Result { () throws(JSONParseError) -> JSON in try JSON.parse(data) }
    }

    /// docs/json.md's rows `| i_name.json | accepted |` or `| i_name.json | refused |`.
    static func decisions() throws -> [String: Bool] {
        let text = try String(contentsOf: repo.appendingPathComponent("docs/json.md"), encoding: .utf8)
        var table: [String: Bool] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("| `i_") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 2 else { continue }
            table[cells[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))] = cells[1] == "accepted"
        }
        return table
    }

    @Test("the suite has its 95 y_, 188 n_ and 35 i_ cases", .enabled(if: present, "../shared/json-test-suite is absent"))
    func counts() {
        #expect(Self.cases("y_").count >= 95 && Self.cases("n_").count >= 188 && Self.cases("i_").count >= 35)
    }

    @Test("every y_ case is accepted", .enabled(if: present, "../shared/json-test-suite is absent"),
          arguments: cases("y_"))
    func accepted(name: String) throws {
        if case .failure(let error) = try Self.outcome(name) { Issue.record("\(name): \(error)") }
    }

    @Test("every n_ case is refused", .enabled(if: present, "../shared/json-test-suite is absent"),
          arguments: cases("n_"))
    func refused(name: String) throws {
        if case .success(let value) = try Self.outcome(name) { Issue.record("\(name) accepted as \(value)") }
    }

    @Test("every i_ case is decided in docs/json.md and comes out so",
          .enabled(if: present, "../shared/json-test-suite is absent"), arguments: cases("i_"))
    func decided(name: String) throws {
        let accept = try #require(try Self.decisions()[name], "\(name) is not listed in docs/json.md")
        switch try Self.outcome(name) {
        case .success(let value): #expect(accept, "\(name) accepted as \(value), docs/json.md says refused")
        case .failure(let error): #expect(!accept, "\(name) refused (\(error)), docs/json.md says accepted")
        }
    }

    @Test("docs/json.md lists no i_ case the suite lacks", .enabled(if: present, "../shared/json-test-suite is absent"))
    func noStaleRows() throws {
        #expect(Set(try Self.decisions().keys) == Set(Self.cases("i_")))
    }
}
