import Foundation
import Testing
@testable import KubeClient
import KubeCore

@Suite("API errors, warnings and watch lines from the recorded responses")
struct StatusTests {
    @Test("Status objects render like kubectl", arguments: [
        ("61-volumesnapshot-get-not-found.json", 404, "NotFound",
         #"Error from server (NotFound): volumesnapshots.snapshot.storage.k8s.io "snap-missing" not found"#),
        ("64-pvc-get-not-found.json", 404, "NotFound",
         #"Error from server (NotFound): persistentvolumeclaims "pvc-missing" not found"#),
        ("66-volumesnapshot-create-already-exists.json", 409, "AlreadyExists",
         #"Error from server (AlreadyExists): volumesnapshots.snapshot.storage.k8s.io "snap-1" already exists"#),
        ("75-volumesnapshot-list-forbidden.json", 403, "Forbidden",
         #"Error from server (Forbidden): volumesnapshots.snapshot.storage.k8s.io is forbidden: User "system:serviceaccount:apps:reader" cannot list resource "volumesnapshots" in API group "snapshot.storage.k8s.io" in the namespace "apps""#),
        ("77-volumesnapshot-list-unauthorized.json", 401, "Unauthorized",
         "error: You must be logged in to the server (Unauthorized)"),
        ("45-events-events-k8s-io-v1-bad-field-selector.json", 400, "BadRequest",
         "Error from server (BadRequest): field label not supported: involvedObject.name"),
        ("70-volumesnapshot-create-two-sources.json", 422, "Invalid",
         #"The VolumeSnapshot "snap-twosources" is invalid: spec.source: Invalid value: exactly one of volumeSnapshotContentName and persistentVolumeClaimName must be set"#),
        ("72-pvc-create-zero-quantity.json", 422, "Invalid",
         #"The PersistentVolumeClaim "zero-size" is invalid: spec.resources[storage]: Invalid value: "0": must be greater than zero"#),
    ] as [(String, Int, String, String)])
    func statusRendering(file: String, code: Int, reason: String, rendered: String) throws {
        let r = try Fixtures.response(file)
        #expect(r.status == code)
        let e = KubeAPIError.from(httpStatus: r.status, body: Array(r.body), method: "GET", path: try Fixtures.requestPath(file))
        #expect(e.isStatusObject)
        #expect(e.code == code)
        #expect(e.reason == reason)
        #expect(e.description == rendered)
    }

    @Test("422 with two causes lists both, one per line (kubectl MultilineError)")
    func invalidTwoCauses() throws {
        let r = try Fixtures.response("69-volumesnapshot-create-missing-source.json")
        let e = KubeAPIError.from(httpStatus: r.status, body: Array(r.body), method: "POST", path: "/")
        #expect(e.isInvalid)
        #expect(e.status.details?.causes?.count == 2)
        #expect(e.description.hasPrefix(#"The VolumeSnapshot "snap-nosource" is invalid: "#))
        #expect(e.description.contains("\n* spec.source: Required value"))
    }

    @Test("details of a 404 keep group and kind (core group has no group)")
    func details() throws {
        let vs = try Fixtures.response("61-volumesnapshot-get-not-found.json")
        let a = KubeAPIError.from(httpStatus: vs.status, body: Array(vs.body), method: "GET", path: "/")
        #expect(a.status.details == StatusDetails(name: "snap-missing", group: "snapshot.storage.k8s.io", kind: "volumesnapshots"))
        #expect(a.isNotFound)
        let pvc = try Fixtures.response("64-pvc-get-not-found.json")
        let b = KubeAPIError.from(httpStatus: pvc.status, body: Array(pvc.body), method: "GET", path: "/")
        #expect(b.status.details?.group == nil)
        #expect(b.status.details?.kind == "persistentvolumeclaims")
    }

    @Test("plain-text 404 of an unserved version becomes client-go's generic NotFound")
    func plainText404() throws {
        let r = try Fixtures.response("78-volumesnapshot-v1beta1-not-served.json")
        #expect(String(decoding: r.body, as: UTF8.self) == "404 page not found\n")
        let e = KubeAPIError.from(httpStatus: 404, body: Array(r.body), method: "GET", path: "/apis/snapshot.storage.k8s.io/v1beta1/namespaces/apps/volumesnapshots",
                                  resource: "volumesnapshots.snapshot.storage.k8s.io")
        #expect(!e.isStatusObject)
        #expect(e.isNotFound)
        #expect(e.rawBody == "404 page not found\n")
        #expect(e.description == "Error from server (NotFound): the server could not find the requested resource (get volumesnapshots.snapshot.storage.k8s.io)")
        let named = KubeAPIError.from(httpStatus: 404, body: Array(r.body), method: "GET", path: "/", resource: "volumesnapshots.snapshot.storage.k8s.io", name: "snap-1")
        #expect(named.description.hasSuffix("(get volumesnapshots.snapshot.storage.k8s.io snap-1)"))
    }

    @Test("non-JSON bodies for other codes use client-go's wording", arguments: [
        (401, "error: You must be logged in to the server (the server has asked for the client to provide credentials)"),
        (403, "Error from server (Forbidden): no RBAC for you"),
        (500, #"Error from server (InternalError): an error on the server ("no RBAC for you") has prevented the request from succeeding"#),
        (503, "Error from server (ServiceUnavailable): the server is currently unable to handle the request"),
    ])
    func plainTextOthers(code: Int, rendered: String) {
        let e = KubeAPIError.from(httpStatus: code, body: Array("no RBAC for you".utf8), method: "GET", path: "/x")
        #expect(e.description == rendered)
    }

    @Test("Warning headers: the text of each 299 warning, escapes removed", arguments: [
        (["299 - \"unknown field \\\"spec.sourcePVC\\\"\""], ["unknown field \"spec.sourcePVC\""]),
        (["299 - \"a\", 299 - \"b, with comma\""], ["a", "b, with comma"]),
        (["299 - \"x\" \"Sat, 01 Jan 2000 00:00:00 GMT\""], ["x"]),
        ([], []),
    ] as [([String], [String])])
    func warnings(values: [String], expected: [String]) {
        #expect(KubeREST.parseWarnings(values) == expected)
    }

    @Test("the recorded dry-run warnings parse", arguments: [
        ("80-pvc-create-dry-run-fractional-bytes-warning.json", #"spec.resources.requests[storage]: fractional byte value "1500m" is invalid, must be an integer"#),
        ("82-pvc-create-dry-run-beta-class-annotation-warning.json", #"metadata.annotations[volume.beta.kubernetes.io/storage-class]: deprecated since v1.8; use "storageClassName" attribute instead"#),
        ("83-volumesnapshot-create-dry-run-unknown-field-warning.json", #"unknown field "spec.sourcePVC""#),
    ])
    func recordedWarnings(file: String, text: String) throws {
        let r = try Fixtures.response(file)
        #expect(KubeREST.parseWarnings(r.warnings) == [text])
    }

    @Test("watch: ERROR 410 Expired is thrown as an expired KubeAPIError; ADDED events decode")
    func watchLines() throws {
        let expired = try Fixtures.response("92-volumesnapshot-watch-expired.json")
        let line = expired.body.prefix { $0 != UInt8(ascii: "\n") }
        #expect {
            _ = try KubeREST.decodeWatchLine(Array(line))
        } throws: { e in
            guard let e = e as? KubeAPIError else { return false }
            return e.isExpired && e.code == 410 && e.message.hasPrefix("too old resource version")
        }
        let stream = try Fixtures.response("90-volumesnapshot-watch.json")
        let lines = stream.body.split(separator: UInt8(ascii: "\n"))
        let events = try lines.map { try KubeREST.decodeWatchLine(Array($0)) }
        #expect(events.first?.type == "ADDED")
        #expect(events.last?.object["status"]["readyToUse"] == .bool(true))
        #expect(events.allSatisfy { $0.object["metadata"]["name"] == "snap-2" })
    }

    @Test("resource paths", arguments: [
        (ResourceType.volumeSnapshots, "apps", "snap-1", "/apis/snapshot.storage.k8s.io/v1/namespaces/apps/volumesnapshots/snap-1"),
        (ResourceType.volumeSnapshots, nil, nil, "/apis/snapshot.storage.k8s.io/v1/volumesnapshots"),
        (ResourceType.persistentVolumeClaims, "apps", nil, "/api/v1/namespaces/apps/persistentvolumeclaims"),
        (ResourceType.persistentVolumes, "apps", "pv-1", "/api/v1/persistentvolumes/pv-1"),
        (ResourceType.volumeSnapshotContents.withVersion("v1beta1"), nil, "c", "/apis/snapshot.storage.k8s.io/v1beta1/volumesnapshotcontents/c"),
    ] as [(ResourceType, String?, String?, String)])
    func paths(resource: ResourceType, ns: String?, name: String?, expected: String) {
        #expect(resource.path(namespace: ns, name: name) == expected)
    }

    @Test("query encoding keeps selectors and continue tokens intact")
    func queryEncoding() {
        let q = KubeREST.encodeQuery([.init(name: "fieldSelector", value: "involvedObject.kind=PersistentVolumeClaim,involvedObject.name=x"),
                                        .init(name: "continue", value: "eyJ2Ijo+/=")])
        #expect(q == "fieldSelector=involvedObject.kind%3DPersistentVolumeClaim%2CinvolvedObject.name%3Dx&continue=eyJ2Ijo%2B%2F%3D")
    }
}
