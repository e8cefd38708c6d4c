// The one place the EVS backend meets Foundation's Date (the domain's Snapshot.createdAt).
import struct FoundationEssentials.Date

enum EVSDates {
    static func date(_ time: (seconds: Int64, nanos: Int32)) -> Date {
        Date(timeIntervalSince1970: Double(time.seconds) + Double(time.nanos) / 1e9)
    }
}
