// Fuzz target fuzz-json: JSONCore's parser and writer on any bytes (what the API server and a cloud may send).
// Built with -DFUZZING -sanitize=fuzzer,address (make fuzz) it is a libFuzzer target; otherwise it replays files.
import FuzzHarness
import JSONCore

/// No input traps or exhausts the stack; what parses survives the writer (compact and indented text parse back to
/// an equal value, and writing is deterministic); skipping keys never changes whether an input is accepted, and
/// leaves exactly the skipped members out.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzInput(data, size)
    let skipped: Set<String> = ["managedFields", "a", ""]
    let value: JSON
    do {
        value = try JSON.parse(bytes)
    } catch {
        _ = error.description
        guard (try? JSON.parse(bytes, skippingKeys: skipped)) == nil else {
            fatalError("refused, but accepted when skipping keys: \(error)")
        }
        return 0
    }
    let compact = value.serialized()
    guard let again = try? JSON.parse(compact), again == value else {
        fatalError("compact text does not parse back: \(value)")
    }
    guard again.serialized() == compact else { fatalError("writing is not deterministic: \(value)") }
    guard (try? JSON.parse(value.prettyPrinted())) == value else { fatalError("indented text does not parse back: \(value)") }
    guard let lean = try? JSON.parse(bytes, skippingKeys: skipped) else {
        fatalError("accepted, but refused when skipping keys: \(value)")
    }
    guard lean == without(skipped, value) else { fatalError("skipping keys left out the wrong members: \(lean)") }
    return 0
}

/// `value` with the members named in `keys` removed from every object.
func without(_ keys: Set<String>, _ value: JSON) -> JSON {
    switch value {
    case .array(let elements): .array(elements.map { without(keys, $0) })
    case .object(let members): .object(members.filter { !keys.contains($0.key) }.mapValues { without(keys, $0) })
    default: value
    }
}

#if !FUZZING
@main enum Replay { static func main() { FuzzReplay.main(fuzzOneInput) } }
#endif
