// Deterministic names and labels of scheduled snapshots: the name comes from the schedule, the PVC and the
// scheduled slot (in UTC), so a restart or a second replica creating "the same" snapshot gets AlreadyExists
// instead of making a second one for the slot.
import TimeCore

public enum ScheduleNaming {
    /// Label naming the schedule that made a VolumeSnapshot (its value is the schedule's name).
    public static let scheduleLabel = "evssnap.io/schedule"
    /// Label with the slot the snapshot was taken for, `20261207t0200z` (UTC; lower case, names allow no capitals).
    public static let slotLabel = "evssnap.io/slot"
    /// Annotation with the slot as RFC 3339, for readers.
    public static let slotAnnotation = "evssnap.io/scheduled-for"

    /// `20261207t0200z` for an instant (minutes, UTC).
    public static func slotStamp(_ instant: Int64) -> String {
        let c = CivilTime(wallSeconds: instant)
        return "\(Civil.padded(c.year, 4))\(Civil.padded(c.month))\(Civil.padded(c.day))t\(Civil.padded(c.hour))\(Civil.padded(c.minute))z"
    }

    /// Reads a slot label back; nil when it is not one.
    public static func slot(fromStamp s: String) -> Int64? {
        let u = Array(s.utf8)
        guard u.count == 14, u[8] == UInt8(ascii: "t"), u[13] == UInt8(ascii: "z") else { return nil }
        func n(_ a: Int, _ l: Int) -> Int? { Int(String(decoding: u[a..<(a + l)], as: UTF8.self)) }
        guard let y = n(0, 4), let mo = n(4, 2), let d = n(6, 2), let h = n(9, 2), let mi = n(11, 2) else { return nil }
        return CivilTime(year: y, month: mo, day: d, hour: h, minute: mi).wallSeconds
    }

    /// `SCHEDULE-PVC-20261207t0200z`, at most 63 characters (a label value and an R14-valid name): when too long,
    /// the schedule and PVC part is cut and an 8-hex-digit hash of both is added, so different pairs stay apart.
    public static func snapshotName(schedule: String, pvc: String, slot: Int64) -> String {
        let stamp = slotStamp(slot)
        let full = "\(schedule)-\(pvc)-\(stamp)"
        if full.utf8.count <= 63 { return full }
        let hash = fnv1a("\(schedule)/\(pvc)")
        let keep = 63 - stamp.count - hash.count - 2
        var head = String("\(schedule)-\(pvc)".prefix(keep))
        while head.hasSuffix("-") || head.hasSuffix(".") { head.removeLast() }
        return "\(head)-\(hash)-\(stamp)"
    }

    /// FNV-1a 32-bit, 8 lower-case hex digits.
    static func fnv1a(_ s: String) -> String {
        var h: UInt32 = 0x811C_9DC5
        for b in s.utf8 { h = (h ^ UInt32(b)) &* 0x0100_0193 }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 8 - hex.count) + hex
    }
}
