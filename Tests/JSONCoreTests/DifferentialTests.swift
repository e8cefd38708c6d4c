import Foundation
import JSONCore
import Testing

/// JSONCore against Foundation's JSONSerialization (an independent parser) over generated documents: valid ones
/// must give the same value from both, and of mutated ones, whatever JSONCore accepts Foundation accepts with the
/// same value (JSONCore may refuse more: lone surrogates, numbers beyond Double; docs/json.md).
@Suite("JSONCore vs Foundation's JSONSerialization (outside reference)")
struct DifferentialTests {
    /// A small deterministic generator (SplitMix64), so a failure names a seed that reproduces it.
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    }

    static let spaces = [" ", "\n", "\t", "\r\n", ""]
    static let pieces = ["a", "Z", "0", " ", "é", "ß", "中", "😀", "\\\"", "\\\\", "\\/", "\\n", "\\t", "\\b", "\\f",
                         "\\u0041", "\\u00e9", "\\u4e2d", "\\ud83d\\ude00", "\\u0000", "\\u001f", "k8s.io/", "-"]

    /// JSON text of a random value: numbers of every form, strings with escapes and non-ASCII, nesting, white space.
    static func document(_ g: inout Generator, depth: Int = 0) -> String {
        func ws(_ g: inout Generator) -> String { spaces[g.below(spaces.count)] }
        switch g.below(depth > 4 ? 6 : 9) {
        case 0: return ["null", "true", "false"][g.below(3)]
        case 1: return String(Int64(bitPattern: g.next()) >> UInt64(g.below(64)))
        case 2:
            let mantissa = String(g.below(1_000_000))
            let fraction = g.below(2) == 0 ? "" : "." + String(g.below(100_000))
            let exponent = g.below(3) == 0 ? "" : ["e", "E"][g.below(2)] + ["", "+", "-"][g.below(3)] + String(g.below(300))
            return (g.below(2) == 0 ? "-" : "") + mantissa + fraction + exponent
        case 3: return String(Double(bitPattern: g.next() & 0x7FEF_FFFF_FFFF_FFFF))
        case 4, 5:
            var s = "\""
            for _ in 0..<g.below(12) { s += pieces[g.below(pieces.count)] }
            return s + "\""
        case 6:
            let count = g.below(5)
            return "[" + ws(&g) + (0..<count).map { _ in document(&g, depth: depth + 1) + ws(&g) }.joined(separator: "," + ws(&g)) + "]"
        default:
            let count = g.below(5)
            return "{" + ws(&g) + (0..<count).map { i in
                "\"k\(i)\(pieces[g.below(pieces.count)])\"" + ws(&g) + ":" + ws(&g) + document(&g, depth: depth + 1)
            }.joined(separator: "," + ws(&g)) + ws(&g) + "}"
        }
    }

    /// Whether Foundation's value is the same as ours.
    static func same(_ ours: JSON, _ theirs: Any) -> Bool {
        switch ours {
        case .null: return theirs is NSNull
        case .bool(let b):
            guard let n = theirs as? NSNumber, String(cString: n.objCType) == "c" else { return false }
            return n.boolValue == b
        case .int(let i):
            guard let n = theirs as? NSNumber else { return false }
            return n.int64Value == i || (abs(i) > (1 << 53) && n.doubleValue == Double(i))
        case .number(let d):
            guard let n = theirs as? NSNumber else { return false }
            // Foundation hands some numbers over as NSDecimalNumber, whose doubleValue can be a few ulps off.
            return n.doubleValue == d || (n.doubleValue - d).magnitude <= d.magnitude * 1e-12
        case .string(let s): return (theirs as? String) == s
        case .array(let a):
            guard let t = theirs as? [Any], t.count == a.count else { return false }
            return zip(a, t).allSatisfy { same($0, $1) }
        case .object(let o):
            guard let t = theirs as? [String: Any], t.count == o.count else { return false }
            return o.allSatisfy { key, value in t[key].map { same(value, $0) } ?? false }
        }
    }

    static func foundation(_ bytes: [UInt8]) -> Any? {
        try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
    }

    @Test("2,000 generated valid documents: both parse them to the same value", arguments: 0..<4)
    func valid(block: Int) throws {
        var g = Generator(state: UInt64(block) &* 1_000_003)
        for n in 0..<500 {
            let text = Self.document(&g)
            let ours = try JSON.parse(text)
            let theirs = try #require(Self.foundation(Array(text.utf8)), "block \(block) #\(n): Foundation refuses \(text)")
            #expect(Self.same(ours, theirs), "block \(block) #\(n): \(text) → ours \(ours), Foundation \(theirs)")
            // What we write, Foundation reads back as the same value.
            let written = try #require(Self.foundation(ours.serialized()))
            #expect(Self.same(ours, written), "block \(block) #\(n): written \(ours)")
        }
    }

    @Test("4,000 mutated documents: what JSONCore accepts, Foundation accepts as the same value", arguments: 0..<4)
    func mutated(block: Int) {
        var g = Generator(state: 0xC0FFEE &+ UInt64(block))
        let alphabet = Array("{}[]\",:\\-+.eE0123456789 tfnu".utf8) + [0x00, 0x1F, 0x80, 0xC3, 0xED, 0xFF]
        var accepted = 0
        for n in 0..<1_000 {
            var bytes = Array(Self.document(&g).utf8)
            for _ in 0...g.below(3) {
                let at = g.below(bytes.count + 1)
                switch g.below(3) {
                case 0 where at < bytes.count: bytes.remove(at: at)
                case 1 where at < bytes.count: bytes[at] = alphabet[g.below(alphabet.count)]
                default: bytes.insert(alphabet[g.below(alphabet.count)], at: at)
                }
            }
            guard let ours = try? JSON.parse(bytes) else { continue }
            accepted += 1
            let theirs = Self.foundation(bytes)
            #expect(theirs.map { Self.same(ours, $0) } == true,
                    "block \(block) #\(n): \(String(decoding: bytes, as: UTF8.self)) → ours \(ours), Foundation \(theirs as Any)")
        }
        #expect(accepted > 50)  // the mutations leave enough valid documents to compare
    }
}
