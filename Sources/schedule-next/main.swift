// schedule-next: the next firings of cron expressions in IANA zones, one request per input line, for the
// croniter comparison in Tests/conformance/test_schedule_cron.py.
//
// Input lines:  ZONE<TAB>EPOCH_SECONDS<TAB>COUNT<TAB>EXPRESSION
// Output lines: the COUNT next firings (epoch seconds, space-separated), or `error: TEXT`.
// Zones are read from $ZONEINFO or /usr/share/zoneinfo.
import Foundation
import SnapshotSchedules

let root = ProcessInfo.processInfo.environment["ZONEINFO"] ?? "/usr/share/zoneinfo"
let source = ZoneSource { name in FileManager.default.contents(atPath: root + "/" + name).map { [UInt8]($0) } }
var zones: [String: TimeZoneRules] = [:]
var out = ""
while let line = readLine() {
    let f = line.split(separator: "\t", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
    guard f.count == 4, let start = Int64(f[1]), let count = Int(f[2]) else { out += "error: bad request line\n"; continue }
    do {
        let zone = try zones[f[0]] ?? source.zone(f[0])
        zones[f[0]] = zone
        let schedule = CronSchedule(cron: try CronExpression(f[3]), zone: zone)
        var t = start
        var fires: [String] = []
        for _ in 0..<count {
            guard let n = schedule.next(after: t) else { break }
            fires.append(String(n))
            t = n
        }
        out += fires.joined(separator: " ") + "\n"
    } catch {
        out += "error: \(error)\n"
    }
    if out.utf8.count > 1 << 16 { FileHandle.standardOutput.write(Data(out.utf8)); out = "" }
}
FileHandle.standardOutput.write(Data(out.utf8))
