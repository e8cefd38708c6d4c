// The public face of the CSI wire types: the namespace, the message protocol, the decode error.
// No C type appears here; the protobuf-c glue is internal (CSICodec.swift, Generated/).

/// The CSI v1.12 message types of package `csi.v1` (see proto/csi.proto), e.g. `CSI.CreateVolumeRequest`.
public enum CSI {}

extension CSI {
    /// `google.protobuf.Timestamp`: seconds and nanoseconds since the Unix epoch (UTC).
    public struct Timestamp: Sendable, Hashable, CustomStringConvertible {
        /// Whole seconds since 1970-01-01T00:00:00Z.
        public var seconds: Int64
        /// Nanoseconds within the second, 0...999_999_999.
        public var nanos: Int32

        /// A timestamp from its two wire fields.
        public init(seconds: Int64 = 0, nanos: Int32 = 0) {
            self.seconds = seconds
            self.nanos = nanos
        }

        /// `seconds.nanos` with nine fractional digits, e.g. `1700000000.123456789`.
        public var description: String {
            let frac = String(nanos)
            return "\(seconds).\(String(repeating: "0", count: max(0, 9 - frac.count)))\(frac)"
        }
    }
}

/// A CSI message with its protobuf wire form (encoded and decoded with protobuf-c).
public protocol CSIMessage: Sendable, Equatable, CustomStringConvertible {
    /// Decodes the wire form. Throws for malformed payloads and for strings protobuf-c would accept
    /// but the spec forbids (invalid UTF-8, embedded NUL).
    init(serializedBytes: [UInt8]) throws(CSIDecodeError)
    /// The wire form. Map entries are written in key order, so equal values give equal bytes.
    /// protobuf-c strings are C strings: a string holding a NUL is written only up to the NUL
    /// (decoded values never hold one; `init(serializedBytes:)` rejects them).
    func serializedBytes() -> [UInt8]
    /// A one-line description safe for logs: values of `csi_secret` fields (the `secrets` maps) are `***`.
    var redactedDescription: String { get }
}

extension CSIMessage {
    /// Same as `redactedDescription`, so interpolating a message never leaks a secret.
    public var description: String { redactedDescription }
}

/// Why a payload could not be decoded as a CSI message.
public enum CSIDecodeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// protobuf-c rejected the payload (truncated, wrong wire type, bad length) for this message type.
    case malformed(message: String)
    /// A string field or map key/value is not valid UTF-8; `field` is its path, e.g. `CreateVolumeRequest.name`.
    case invalidUTF8(field: String)
    /// A string field or map key/value contains a NUL byte (protobuf-c would silently truncate it).
    case embeddedNUL(field: String)

    /// A message suitable for an INVALID_ARGUMENT status.
    public var description: String {
        switch self {
        case .malformed(let message): "malformed \(message) payload"
        case .invalidUTF8(let field): "field \(field) is not valid UTF-8"
        case .embeddedNUL(let field): "field \(field) contains a NUL character"
        }
    }
}
