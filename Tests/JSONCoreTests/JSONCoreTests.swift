import Foundation
import JSONCore
import Testing

@Suite("JSON values, parser and writer")
struct JSONCoreTests {
    @Test("integers that fit Int64 stay exact (nanosecond times); other numbers are Doubles")
    func numbers() throws {
        let json = try JSON.parse("[1700000000123456789, -9223372036854775807, 9223372036854775808, 2.5, 1e3, -0, 0]")
        #expect(json[0] == .int(1_700_000_000_123_456_789) && json[0].int64 == 1_700_000_000_123_456_789)
        #expect(json[1] == .int(-9_223_372_036_854_775_807))
        #expect(json[2] == .number(9_223_372_036_854_775_808.0))
        #expect(json[3] == .number(2.5) && json[4] == .number(1000) && json[4].int == 1000)
        #expect(json[5] == .int(0) && json[6] == .int(0))
        #expect(json.description == "[1700000000123456789,-9223372036854775807,9.223372036854776e+18,2.5,1000,0,0]")
    }

    @Test("numbers compare and hash by value across .int and .number")
    func numberEquality() {
        #expect(JSON.int(10) == .number(10) && JSON.number(10) == .int(10) && JSON.int(10) != .number(10.5))
        #expect(Set<JSON>([.int(10), .number(10)]).count == 1)
        #expect(JSON.int(Int64.max) != .number(9_223_372_036_854_775_807.0))  // 2^63 as a Double: not Int64.max
    }

    static let refused: [(String, String)] = [
        ("+1", "unexpected character"), ("01", "leading zero"), ("-01", "leading zero"), ("1.", "after '.'"),
        (".5", "unexpected character"), ("1e", "exponent"), ("1e400", "out of range"), ("-", "expected a digit"),
        (#""\ud800""#, "lone high surrogate"), (#""\udc00""#, "lone low surrogate"), (#""\ud800\u0041""#, "without a low"),
        ("\"a\u{1}\"", "control character"), ("[1] x", "text after"), ("{\"a\":1,}", "member name"), ("[1,]", "unexpected"),
        ("\u{FEFF}{}", "unexpected character"), ("", "unexpected end"), ("nul", "expected null"),
    ]

    @Test("refuses what RFC 8259 does not allow, saying what and where", arguments: refused)
    func refuses(text: String, reason: String) {
        #expect {
            try JSON.parse(text)
        } throws: { error in
            (error as? JSONParseError)?.reason.contains(reason) == true
        }
    }

    @Test("refuses bytes that are not UTF-8 inside a string, with or without escapes")
    func invalidUTF8() throws {
        for bytes: [UInt8] in [[0x22, 0xFF, 0x22], [0x22, 0xC0, 0xAF, 0x22], [0x22, 0x5C, 0x6E, 0xED, 0xA0, 0x80, 0x22]] {
            #expect(throws: JSONParseError.self) { try JSON.parse(bytes) }
        }
        #expect(try JSON.parse([0x22, 0xC3, 0xA9, 0x5C, 0x6E, 0x22]) == .string("é\n"))
    }

    @Test("nesting: 512 levels parse, 513 are refused without exhausting the stack")
    func depth() throws {
        let deepest = String(repeating: "[", count: JSON.maximumDepth) + String(repeating: "]", count: JSON.maximumDepth)
        _ = try JSON.parse(deepest)
        let objects = String(repeating: #"{"a":"#, count: JSON.maximumDepth) + "1" + String(repeating: "}", count: JSON.maximumDepth)
        _ = try JSON.parse(objects)
        #expect(throws: JSONParseError.self) { try JSON.parse("[" + deepest + "]") }
        #expect(throws: JSONParseError.self) { try JSON.parse(String(repeating: "[", count: 100_000)) }
    }

    @Test("skippingKeys leaves a member out at every depth, but still refuses it when malformed")
    func skipping() throws {
        let text = #"{"metadata":{"name":"a","managedFields":[{"f:x":{}},"\u00e9",1.5]},"items":[{"managedFields":1,"b":2}]}"#
        let json = try JSON.parse(text, skippingKeys: ["managedFields"])
        #expect(json == ["metadata": ["name": "a"], "items": [["b": 2]]])
        #expect(try JSON.parse(text)["metadata"]["managedFields"][1] == "é")
        for bad in [#"{"managedFields":[01]}"#, #"{"managedFields":"\ud800"}"#, #"{"managedFields":{"a" 1}}"#,
                    "{\"managedFields\":" + String(repeating: "[", count: 600) + String(repeating: "]", count: 600) + "}"] {
            #expect(throws: JSONParseError.self, "\(bad.prefix(30))") { try JSON.parse(bad, skippingKeys: ["managedFields"]) }
        }
    }

    @Test("writer: compact with sorted keys, indented like kubectl -o json, one quoting")
    func writer() throws {
        let value: JSON = ["b": [1, 2.5, "x"], "a": ["e": [], "o": [:], "n": nil, "t": true]]
        #expect(value.description == #"{"a":{"e":[],"n":null,"o":{},"t":true},"b":[1,2.5,"x"]}"#)
        #expect(value.prettyPrinted() == """
            {
                "a": {
                    "e": [],
                    "n": null,
                    "o": {},
                    "t": true
                },
                "b": [
                    1,
                    2.5,
                    "x"
                ]
            }
            """)
        #expect(JSON.quote("a\"b\\c\n\r\t\u{1}\u{1F}é") == #""a\"b\\c\n\r\t\u0001\u001fé""#)
        #expect(JSON.number(.infinity).description == "null")
        #expect(try JSON.parse(value.serialized()) == value)
    }

    @Test("lenient readers for EVS's habits; strict int64")
    func readers() {
        #expect(JSON.string("12").int == 12 && JSON.string("12").int64 == nil)
        #expect(JSON.string("true").bool == true && JSON.string("yes").bool == nil)
        #expect(JSON.number(2.5).int == nil && JSON.int(3).double == 3)
        #expect(JSON.null["a"][3].isNull && JSON.string("x").elements.isEmpty && JSON.array([]).members.isEmpty)
        #expect(JSON.object(["a": "x", "b": 1]).stringMap == ["a": "x"])
        var built = JSON.null
        built["a"]["b"] = 1
        #expect(built == ["a": ["b": 1]])
    }
}
