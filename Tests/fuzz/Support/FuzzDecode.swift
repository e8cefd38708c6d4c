import CSIMessages
// The decoder targets import FuzzSupport alone: the replay main and fuzzInput come with it.
@_exported import FuzzHarness

/// The check every decoder target runs on one input: protobuf-c's unpack and the Swift conversion must not crash
/// (nor leak or touch freed memory: ASan and LeakSanitizer watch), and whatever decodes must survive a round
/// trip: our own encoding decodes to an equal value and re-encodes to the same bytes, and the value's log line
/// (the redacted description) can be built.
public enum FuzzDecode {
    public static func run<M: CSIMessage>(_: M.Type, _ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
        let bytes = fuzzInput(data, size)
        let message: M
        do {
            message = try M(serializedBytes: bytes)
        } catch {
            _ = error.description  // the INVALID_ARGUMENT message the driver would send
            return 0
        }
        let encoded = message.serializedBytes()
        let again: M
        do {
            again = try M(serializedBytes: encoded)
        } catch {
            fatalError("\(M.self): our own encoding does not decode: \(error); value \(message)")
        }
        guard again == message else {
            fatalError("\(M.self): round trip changed the value:\n  \(message)\n  \(again)")
        }
        guard again.serializedBytes() == encoded else {
            fatalError("\(M.self): encoding is not deterministic for \(message)")
        }
        _ = message.redactedDescription
        return 0
    }
}
