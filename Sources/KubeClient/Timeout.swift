// kubectl's --request-timeout syntax (moved along from ClientConfig.swift when the loader went to KubeCore).
import Foundation
import KubeCore
import TimeCore

extension ConfigOverrides {
    /// Parses a kubectl `--request-timeout` value: `0` (none), a bare number of seconds, or a duration like `500ms`, `30s`, `1m`, `1h`, `1m30s`.
    /// Read by TimeCore's one duration parser (a bare number is seconds).
    public static func parseTimeout(_ text: String) -> Duration? {
        let t = text.trimmingCharacters(in: .whitespaces)
        guard let duration = DurationText.parse(t, bareNumberIsSeconds: true), duration > .zero else { return nil }
        return duration
    }
}
