// csi-wire-check: a tiny helper for the Python wire-compatibility tests (Tests/conformance).
//   csi-wire-check roundtrip MESSAGE   stdin bytes -> decode -> encode -> stdout bytes
//   csi-wire-check sample MESSAGE [V]  a Swift-built sample value (variant V, default 0) -> stdout bytes
//   csi-wire-check describe MESSAGE    stdin bytes -> redactedDescription on stdout
// MESSAGE is the proto path below csi.v1, e.g. `CreateVolumeRequest` or `VolumeCapability.MountVolume`.
// Exit status: 0 ok, 1 decode error (message on stderr), 2 usage.
import CSIMessages

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

func fail(_ text: String, _ status: Int32) -> Never {
    fputs("csi-wire-check: \(text)\n", stderr)
    exit(status)
}

func readStdin() -> [UInt8] {
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
        if n < 0 { fail("read stdin: errno \(errno)", 2) }
        if n == 0 { return bytes }
        bytes += chunk[0..<n]
    }
}

func writeStdout(_ bytes: [UInt8]) {
    var offset = 0
    while offset < bytes.count {
        let n = bytes[offset...].withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
        if n <= 0 { fail("write stdout: errno \(errno)", 2) }
        offset += n
    }
}

let args = CommandLine.arguments
guard args.count >= 3 else { fail("usage: csi-wire-check roundtrip|sample|describe MESSAGE [VARIANT]", 2) }
let name = args[2]
guard let type = CSIMessageRegistry.types[name] else { fail("unknown message \(name)", 2) }

switch args[1] {
case "roundtrip", "describe":
    do {
        let message = try type.init(serializedBytes: readStdin())
        if args[1] == "roundtrip" {
            writeStdout(message.serializedBytes())
        } else {
            writeStdout(Array((message.redactedDescription + "\n").utf8))
        }
    } catch {
        fail("\(error)", 1)
    }
case "sample":
    let variant = args.count > 3 ? Int(args[3]) ?? 0 : 0
    writeStdout(CSIMessageRegistry.sample(name, variant: variant)!.serializedBytes())
default:
    fail("unknown command \(args[1])", 2)
}
