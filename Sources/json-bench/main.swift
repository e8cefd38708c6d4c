// json-bench: parse time of a 1,000-VolumeSnapshot list (the page `kubectl evssnap list` reads, managedFields and
// all) with JSONCore, skipping managedFields as the plugin does, beside Foundation's JSONSerialization on the same
// bytes in the same run (the baseline). A benchmark, not a test: `make bench-json`.
import Foundation
import JSONCore

/// One VolumeSnapshot as the API server sends it, with its managedFields.
func volumeSnapshot(_ i: Int) -> String {
    let uid = String(format: "%08x-1d2e-4f50-8a9b-%012x", i, i * 7919)
    return """
    {"apiVersion":"snapshot.storage.k8s.io/v1","kind":"VolumeSnapshot","metadata":{"annotations":\
    {"everest.io/disk-volume-type":"SSD","kubectl.kubernetes.io/last-applied-configuration":"{\\"apiVersion\\":\
    \\"snapshot.storage.k8s.io/v1\\",\\"kind\\":\\"VolumeSnapshot\\",\\"metadata\\":{\\"name\\":\\"snap-\(i)\\"}}\\n"},\
    "creationTimestamp":"2026-12-0\(i % 9 + 1)T10:\(10 + i % 50):00Z","finalizers":\
    ["snapshot.storage.kubernetes.io/volumesnapshot-as-source-protection",\
    "snapshot.storage.kubernetes.io/volumesnapshot-bound-protection"],"generation":1,"labels":{"app":"db","tier":"\
    \(i % 3)"},"managedFields":[{"apiVersion":"snapshot.storage.k8s.io/v1","fieldsType":"FieldsV1","fieldsV1":\
    {"f:metadata":{"f:annotations":{".":{},"f:everest.io/disk-volume-type":{},\
    "f:kubectl.kubernetes.io/last-applied-configuration":{}},"f:labels":{".":{},"f:app":{},"f:tier":{}}},"f:spec":\
    {".":{},"f:source":{".":{},"f:persistentVolumeClaimName":{}},"f:volumeSnapshotClassName":{}}},"manager":\
    "kubectl-client-side-apply","operation":"Update","time":"2026-12-01T10:00:00Z"},{"apiVersion":\
    "snapshot.storage.k8s.io/v1","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:finalizers":{".":{},\
    "v:\\"snapshot.storage.kubernetes.io/volumesnapshot-as-source-protection\\"":{},\
    "v:\\"snapshot.storage.kubernetes.io/volumesnapshot-bound-protection\\"":{}}}},"manager":"snapshot-controller",\
    "operation":"Update","time":"2026-12-01T10:00:01Z"},{"apiVersion":"snapshot.storage.k8s.io/v1","fieldsType":\
    "FieldsV1","fieldsV1":{"f:status":{".":{},"f:boundVolumeSnapshotContentName":{},"f:creationTime":{},\
    "f:readyToUse":{},"f:restoreSize":{}}},"manager":"snapshot-controller","operation":"Update","subresource":\
    "status","time":"2026-12-01T10:00:05Z"}],"name":"snap-\(i)","namespace":"default","resourceVersion":\
    "\(100_000 + i)","uid":"\(uid)"},"spec":{"source":{"persistentVolumeClaimName":"data-\(i % 40)"},\
    "volumeSnapshotClassName":"csi-disk-snapclass"},"status":{"boundVolumeSnapshotContentName":\
    "snapcontent-\(uid)","creationTime":"2026-12-01T10:00:03Z","readyToUse":true,"restoreSize":"10Gi"}}
    """
}

let count = 1_000
let list = "{\"apiVersion\":\"snapshot.storage.k8s.io/v1\",\"items\":["
    + (0..<count).map(volumeSnapshot).joined(separator: ",")
    + "],\"kind\":\"VolumeSnapshotList\",\"metadata\":{\"continue\":\"\",\"resourceVersion\":\"123456\"}}"
let bytes = Array(list.utf8)
let data = Data(bytes)

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let clock = ContinuousClock()
    let elapsed = try clock.measure(body)
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

/// The best of `rounds` timings of `body`, in milliseconds.
func best(_ rounds: Int, _ body: () throws -> Void) rethrows -> Double {
    var fastest = Double.infinity
    for _ in 0..<rounds { fastest = min(fastest, try seconds(body)) }
    return fastest * 1000
}

let rounds = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 30
let parsed = try JSON.parse(bytes, skippingKeys: ["managedFields"])
precondition(parsed["items"].elements.count == count && parsed["items"][0]["metadata"]["managedFields"].isNull)
let core = try best(rounds) { _ = try JSON.parse(bytes, skippingKeys: ["managedFields"]) }
let coreAll = try best(rounds) { _ = try JSON.parse(bytes) }
let foundation = try best(rounds) { _ = try JSONSerialization.jsonObject(with: data) }
print("json-bench: \(count) VolumeSnapshots, \(bytes.count / 1024) KiB, best of \(rounds)")
print(String(format: "  JSONSerialization (baseline)          %7.2f ms  1.00", foundation))
print(String(format: "  JSONCore, skipping managedFields      %7.2f ms  %.2f", core, core / foundation))
print(String(format: "  JSONCore, every member                %7.2f ms  %.2f", coreAll, coreAll / foundation))
