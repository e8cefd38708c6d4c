import HTTPTransport
import Testing
import JSONCore
import TimeCore
@testable import EVSCloud

@Suite("SHA-256 and HMAC-SHA256")
struct CryptoTests {
    /// FIPS 180-4 examples (and the empty message).
    static let sha: [(String, String)] = [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    ]

    @Test("FIPS 180-4 test vectors", arguments: sha)
    func vectors(message: String, digest: String) {
        #expect(Hex.encode(SHA256.hash(Array(message.utf8))) == digest)
    }

    @Test("one million 'a' (crosses many blocks)")
    func million() {
        #expect(Hex.encode(SHA256.hash([UInt8](repeating: 0x61, count: 1_000_000)))
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test("padding edges: 55, 56, 63, 64 bytes differ and are stable")
    func paddingEdges() {
        let digests = [55, 56, 63, 64, 119, 120].map { Hex.encode(SHA256.hash([UInt8](repeating: 0x61, count: $0))) }
        #expect(Set(digests).count == digests.count)
        // 64 x 'a' (from an independent implementation, Python hashlib).
        #expect(digests[3] == "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb")
    }

    /// RFC 4231 test cases 1, 2, 6 and 7.
    @Test("RFC 4231 HMAC-SHA256 test cases")
    func hmac() {
        #expect(Hex.encode(HMACSHA256.mac(key: [UInt8](repeating: 0x0b, count: 20), message: Array("Hi There".utf8)))
                == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        #expect(Hex.encode(HMACSHA256.mac(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8)))
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        #expect(Hex.encode(HMACSHA256.mac(key: [UInt8](repeating: 0xaa, count: 131),
                                          message: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8)))
                == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
        let long = "This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm."
        #expect(Hex.encode(HMACSHA256.mac(key: [UInt8](repeating: 0xaa, count: 131), message: Array(long.utf8)))
                == "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2")
    }

    @Test("hex round trip and refusal of malformed text")
    func hex() {
        #expect(Hex.decode("00ff10Ab") == [0, 255, 16, 171])
        #expect(Hex.decode("abc") == nil)
        #expect(Hex.decode("zz") == nil)
    }
}

@Suite("AK/SK signing (API gateway SDK-HMAC-SHA256)")
struct SignerTests {
    /// The worked example of Huawei Cloud's API signing guide: this SK over this string to sign gives this signature.
    @Test("the signing guide's example signature")
    func guideExample() {
        let toSign = "SDK-HMAC-SHA256\n20191115T033655Z\nb25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a"
        #expect(AKSKSigner.signature(secretKey: "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc", stringToSign: toSign)
                == "7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe")
    }

    @Test("canonical request: URI ends in /, query sorted and encoded, headers lower-case and sorted (not Content-Type), body hash")
    func canonical() throws {
        let endpoint = try #require(ServiceEndpoint("https://evs.cn-north-4.example.com"))
        let request = HTTPRequest(method: "get", endpoint: endpoint, path: "/v2/p1/cloudvolumes/detail",
                                  query: [("name", "a b"), ("limit", "10")],
                                  headers: [HTTPHeader("X-Sdk-Date", "20191115T033655Z"),
                                            HTTPHeader("Host", "evs.cn-north-4.example.com"),
                                            HTTPHeader("Content-Type", " application/json ")])
        let (text, signed) = AKSKSigner.canonicalRequest(request)
        #expect(signed == "host;x-sdk-date")
        #expect(text == """
            GET
            /v2/p1/cloudvolumes/detail/
            limit=10&name=a%20b
            host:evs.cn-north-4.example.com
            x-sdk-date:20191115T033655Z

            host;x-sdk-date
            e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            """)
    }

    @Test("a request's URL: the endpoint's prefix, each path segment and query item percent-encoded, items in order")
    func requestURL() throws {
        let endpoint = try #require(ServiceEndpoint("https://127.0.0.1:8443/gw/"))
        let request = HTTPRequest(method: "GET", endpoint: endpoint, path: "/v2/p 1/cloudvolumes",
                                  query: [("name", "a/b c"), ("limit", "1")])
        #expect(request.url == "https://127.0.0.1:8443/gw/v2/p%201/cloudvolumes?name=a%2Fb%20c&limit=1")
        let parts = request.urlParts
        #expect(parts.authority == "127.0.0.1:8443" && parts.path == "/gw/v2/p%201/cloudvolumes"
                && parts.query == "name=a%2Fb%20c&limit=1")
        let bare = HTTPRequest(method: "GET", endpoint: try #require(ServiceEndpoint("https://evs.example.com")), path: "")
        #expect(bare.urlParts.path == "/" && bare.urlParts.query.isEmpty)
    }

    @Test("sign() sets X-Sdk-Date, Host and an Authorization header that names the AK but never the SK")
    func sign() throws {
        let endpoint = try #require(ServiceEndpoint("https://127.0.0.1:8443"))
        let signer = AKSKSigner(accessKey: "AKTEST", secretKey: "SECRETVALUE")
        let signed = signer.sign(HTTPRequest(method: "POST", endpoint: endpoint, path: "/v2/p/cloudsnapshots",
                                             body: Array("{}".utf8)), now: 1_573_788_215)
        #expect(signed.header("X-Sdk-Date") == "20191115T032335Z")
        #expect(signed.header("Host") == "127.0.0.1:8443")
        let auth = try #require(signed.header("Authorization"))
        #expect(auth.hasPrefix("SDK-HMAC-SHA256 Access=AKTEST, SignedHeaders=host;x-sdk-date, Signature="))
        #expect(!auth.contains("SECRETVALUE"))
    }
}

@Suite("JSON")
struct JSONTests {
    @Test("parses the EVS job object and reads its fields")
    func job() throws {
        let text = """
            {"status": "SUCCESS", "entities": {"volume_id": "0b549095-4937-4849-8e4c-52aa027d64f7"},
             "job_id": "21917a8d52a19b040152a9f2f2e50041", "job_type": "createVolume",
             "begin_time": "2016-02-04T01:43:37.445Z", "end_time": "2016-02-04T01:44:02.239Z",
             "error_code": null, "fail_reason": null}
            """
        let json = try JSON.parse(text)
        #expect(json["status"].string == "SUCCESS")
        #expect(json["entities"]["volume_id"].string == "0b549095-4937-4849-8e4c-52aa027d64f7")
        #expect(json["error_code"].isNull)
        #expect(json["missing"]["deeper"].isNull)
    }

    @Test("numbers, escapes, surrogate pairs, nesting")
    func values() throws {
        let json = try JSON.parse(#"[0, -1, 2.5, 1e3, "a\"b\\c\n\u00e9\ud83d\ude00", true, false, null, {}, []]"#)
        let a = try #require(json.array)
        #expect(a[0].int == 0 && a[1].int == -1 && a[2] == .number(2.5) && a[3].int == 1000)
        #expect(a[4].string == "a\"b\\c\né😀")
        #expect(a[5].bool == true && a[6].bool == false && a[7].isNull && a[8] == .object([:]) && a[9] == .array([]))
    }

    @Test("print then parse gives the same value; keys print sorted")
    func roundTrip() throws {
        let value: JSON = ["volume": ["name": "a\"\u{1}b", "size": 10, "multiattach": false,
                                      "metadata": ["hw:passthrough": "true", "__system__encrypted": "1"]]]
        #expect(try JSON.parse(value.serialized()) == value)
        #expect(JSON(dictionaryLiteral: ("b", 1), ("a", 2)).description == #"{"a":2,"b":1}"#)
        #expect(JSON.string("\u{1}").description == #""\u0001""#)
    }

    static let malformed = ["", "{", "[1,]", "{\"a\" 1}", "01", "1.", "-", "\"\\x\"", "\"\u{1}\"", "tru", "[1] 2",
                            "\"\\ud800\"", "{\"a\":1,}", "nul"]

    @Test("refuses malformed text with its offset", arguments: malformed)
    func refuses(text: String) {
        #expect(throws: JSONParseError.self) { try JSON.parse(text) }
    }

    @Test("refuses nesting deeper than 512")
    func depth() {
        #expect(throws: JSONParseError.self) { try JSON.parse(String(repeating: "[", count: 600) + String(repeating: "]", count: 600)) }
        #expect((try? JSON.parse(String(repeating: "[", count: 100) + String(repeating: "]", count: 100))) != nil)
    }

    @Test("int and bool accept EVS's string forms")
    func lenient() throws {
        #expect(JSON.string("12").int == 12)
        #expect(JSON.string("true").bool == true)
        #expect(JSON.string("yes").bool == nil)
    }
}

@Suite("Time")
struct ClockTests {
    @Test("X-Sdk-Date and ISO 8601 print and parse")
    func dates() throws {
        #expect(WallClock.sdkDate(0) == "19700101T000000Z")
        #expect(WallClock.sdkDate(1_573_788_215) == "20191115T032335Z")
        let parsed = try #require(WallClock.parseISO8601("2016-02-04T01:43:37.445Z"))
        #expect(parsed.seconds == 1_454_550_217 && parsed.nanoseconds == 445_000_000)
        #expect(WallClock.parseISO8601("2016-02-04T01:43:37.445000")?.seconds == 1_454_550_217)
        #expect(WallClock.parseISO8601("2016-13-04T01:43:37Z") == nil)
        #expect(WallClock.parseISO8601("yesterday") == nil)
    }

    @Test("endpoints parse host, port and prefix; bad ones are refused")
    func endpoints() throws {
        let e = try #require(ServiceEndpoint("https://127.0.0.1:9443/prefix/"))
        #expect(e.host == "127.0.0.1" && e.port == 9443 && e.pathPrefix == "/prefix" && e.hostHeader == "127.0.0.1:9443")
        #expect(ServiceEndpoint("https://evs.example.com:443")?.hostHeader == "evs.example.com")
        #expect(ServiceEndpoint("ftp://x") == nil)
        #expect(ServiceEndpoint("https://x:0") == nil)
        #expect(ServiceEndpoint("https://") == nil)
    }
}

@Suite("ISO 8601 with offsets (EVS's and IAM's times, through TimeCore)")
struct ISO8601OffsetTests {
    /// 2016-02-04T01:43:37.445Z written with other offsets: each is the same instant.
    static let sameInstant = ["2016-02-04T01:43:37.445Z", "2016-02-04T01:43:37.445z", "2016-02-04T09:43:37.445+08:00",
                              "2016-02-03T20:13:37.445-05:30", "2016-02-04T01:43:37.445+00:00", "2016-02-04T07:28:37.445+0545",
                              "2016-02-04 01:43:37.445", "2016-02-04T01:43:37.445000000Z", "2016-02-04T02:43:37.4450000009+01:00"]

    @Test("an offset is subtracted: +08:00 is ahead of UTC, -05:30 behind", arguments: sameInstant)
    func offsets(text: String) throws {
        let parsed = try #require(WallClock.parseISO8601(text))
        #expect(parsed.seconds == 1_454_550_217 && parsed.nanoseconds == 445_000_000)
    }

    static let refused = ["2016-02-30T00:00:00Z", "2015-02-29T00:00:00Z", "2016-02-04T01:43:37+24:00", "2016-02-04T01:43:37+08",
                          "2016-02-04T01:43:37.Z", "2016-02-04T01:43:37Z junk", "2016-02-04T01:43:37+08:00:00",
                          "2016-02-04T01:43:37 +08:00", "2016-02-04T01:60:00Z", ""]

    @Test("anything else is nil, never a silent epoch 0", arguments: refused)
    func refuses(text: String) {
        #expect(WallClock.parseISO8601(text) == nil)
    }

    @Test("a leap day and the day before the epoch")
    func edges() {
        #expect(WallClock.parseISO8601("2000-02-29T00:00:00Z")?.seconds == 951_782_400)
        #expect(WallClock.parseISO8601("1970-01-01T07:59:59+08:00")?.seconds == -1)
    }
}

@Suite("created_at: a time EVS sends that cannot be read is an error, not 1970")
struct CreatedAtTests {
    @Test("a snapshot's created_at with an offset is read right; a bad or missing one is a malformed answer")
    func snapshotTime() throws {
        let region = "cn-north-4"
        let good = EVSSnapshot(json: ["id": "s1", "volume_id": "v1", "status": "available",
                                      "created_at": "2016-02-04T09:43:37.445+08:00"])
        #expect(try good.snapshot(region: region, source: nil).createdAt.timeIntervalSince1970 == 1_454_550_217.445)
        for bad: JSON in ["yesterday", "2016-02-30T00:00:00", .null] {
            let snapshot = EVSSnapshot(json: ["id": "s2", "volume_id": "v1", "status": "available", "created_at": bad])
            #expect(throws: CloudAPIError.self) { try snapshot.snapshot(region: region, source: nil) }
            do { _ = try snapshot.created(); Issue.record("no error for \(bad)") } catch {
                #expect(error.description.contains("created_at") && error.description.contains("s2"), "\(error)")
                #expect(!error.isTransient)
            }
        }
    }

    @Test("list pages are ordered by the instant read, offsets included (01:00+08:00 before 02:00Z)")
    func pagingOrder() throws {
        let early = try #require(WallClock.parseISO8601("2016-02-04T09:00:00+08:00"))   // 01:00Z
        let late = try #require(WallClock.parseISO8601("2016-02-04T02:00:00Z"))
        let page = try EVSCloudBackend.page([(late, "a", "late"), (early, "b", "early")], maxEntries: 1, token: nil)
        #expect(page.items == ["early"])
        let next = try EVSCloudBackend.page([(late, "a", "late"), (early, "b", "early")], maxEntries: 1, token: page.next)
        #expect(next.items == ["late"] && next.next == nil)
    }
}
