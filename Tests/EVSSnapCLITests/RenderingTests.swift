import EVSSnapCLI
import JSONCore
import Testing

@Test("YAML in kubectl's style: sorted keys, unindented lists, quoted ambiguous strings")
func yamlStyle() {
    let v: JSON = [
        "b": ["x": "10", "y": "true", "z": "", "w": "a: b", "n": 3, "f": false, "e": [:] as JSON, "l": [] as JSON],
        "a": ["one", ["k": "v", "j": "w"] as JSON],
        "c": .null,
    ]
    #expect(v.yaml() == """
        a:
        - one
        - j: w
          k: v
        b:
          e: {}
          f: false
          l: []
          'n': 3
          w: 'a: b'
          x: '10'
          'y': 'true'
          z: ''
        c: null

        """)
}

@Test("JSON round trip keeps every type; pretty output is indented by four spaces")
func jsonRoundTrip() throws {
    let text = #"{"a":1,"b":1.5,"c":"x\"y\n","d":[true,null],"e":{}}"#
    let v = try JSON.parse(text)
    #expect(v["a"] == .int(1))
    #expect(v["b"] == .number(1.5))
    #expect(v["c"].string == "x\"y\n")
    #expect(v["d"] == [true, nil])
    #expect(try JSON.parse(v.description) == v)
    #expect(try JSON.parse(v.prettyPrinted()) == v)
    let nested: JSON = ["k": [1]]
    #expect(nested.prettyPrinted() == "{\n    \"k\": [\n        1\n    ]\n}")
}

@Test("table columns are padded to the widest cell plus three spaces; the last is not padded")
func tableLayout() {
    var t = Table(headers: ["NAME", "AGE"])
    t.append(["a-long-name", "5m"])
    #expect(t.render() == "NAME          AGE\na-long-name   5m\n")
}

@Test("AGE like kubectl", arguments: [(30, "30s"), (119, "119s"), (150, "2m30s"), (600, "10m"), (3 * 3600 + 60, "3h1m"), (9 * 3600, "9h"), (3 * 86400, "3d"), (800 * 86400, "2y")])
func ages(_ seconds: Int, _ text: String) {
    let now = World.now
    #expect(KubeTime.age(from: now.addingTimeInterval(-Double(seconds)), now: now) == text)
}

@Test("API errors print as kubectl prints them")
func apiErrorText() {
    let e = APIError(code: 404, body: ["reason": "NotFound", "message": "persistentvolumeclaims \"x\" not found"], text: nil)
    #expect(e.description == "Error from server (NotFound): persistentvolumeclaims \"x\" not found")
    let plain = APIError(code: 404, body: nil, text: "404 page not found\n")
    #expect(plain.description == "Error from server (NotFound): 404 page not found")
}
