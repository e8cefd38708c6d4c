// Fuzz target fuzz-decode-DeleteSnapshotRequest: protobuf-c unpack + Swift conversion of CSI.DeleteSnapshotRequest (see FuzzDecode).
// Built with -DFUZZING -sanitize=fuzzer,address (make fuzz) it is a libFuzzer target; otherwise it replays files.
import CSIMessages
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzDecode.run(CSI.DeleteSnapshotRequest.self, data, size)
}

#if !FUZZING
@main enum Replay { static func main() { FuzzReplay.main(fuzzOneInput) } }
#endif
