#!/usr/bin/env python3
"""Generate the Swift CSI value types and their protobuf-c glue.

Input: a FileDescriptorSet (protoc --include_imports) holding csi.proto.
Output (deterministic, committed):
  Sources/CSIMessages/Generated/CSITypes.swift      public value types, CSIMethod
  Sources/CSIMessages/Generated/CSICodecGlue.swift  internal reader/writer glue, redaction, samples
  Sources/CCSIProto/include/ccsi_descriptors.h      C accessors returning the real descriptor addresses
"""
import re
import sys

from google.protobuf import descriptor_pb2 as d

F = descriptor_pb2 = d.FieldDescriptorProto
SECRET_OPTION = 1059  # csi_secret field option number

SWIFT_KEYWORDS = {
    "associatedtype", "class", "deinit", "enum", "extension", "fileprivate", "func", "import", "init",
    "inout", "internal", "let", "open", "operator", "private", "protocol", "public", "static", "struct",
    "subscript", "typealias", "var", "break", "case", "continue", "default", "defer", "do", "else",
    "fallthrough", "for", "guard", "if", "in", "repeat", "return", "switch", "where", "while", "as",
    "catch", "false", "is", "nil", "rethrows", "super", "self", "Self", "throw", "throws", "true", "try",
    "Type", "Any", "Protocol",
}


def esc(name):
    return f"`{name}`" if name in SWIFT_KEYWORDS else name


def lower_camel(snake):
    parts = snake.lower().split("_")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def upper_camel(snake):
    s = lower_camel(snake)
    return s[:1].upper() + s[1:]


def type_name(proto_name):
    # `Type` would clash with the metatype `X.Type`.
    return "Kind" if proto_name == "Type" else proto_name


def c_snake(camel):
    out = []
    for i, ch in enumerate(camel):
        if ch.isupper() and i > 0 and (camel[i - 1].islower() or camel[i - 1].isdigit()):
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def varint_fields(raw):
    """Yield (number, wiretype, value) for the top level of a serialized options message."""
    i = 0
    while i < len(raw):
        key, i = read_varint(raw, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, i = read_varint(raw, i)
            yield num, wt, val
        elif wt == 2:
            ln, i = read_varint(raw, i)
            yield num, wt, raw[i:i + ln]
            i += ln
        elif wt == 1:
            i += 8
        elif wt == 5:
            i += 4
        else:
            raise ValueError("bad options encoding")


def read_varint(raw, i):
    shift = val = 0
    while True:
        b = raw[i]
        i += 1
        val |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return val, i


def is_secret(field):
    raw = field.options.SerializeToString()
    return any(n == SECRET_OPTION and v == 1 for n, wt, v in varint_fields(raw) if wt == 0)


class Msg:
    def __init__(self, proto, path, parent):
        self.proto = proto
        self.path = path  # ["VolumeCapability", "MountVolume"]
        self.parent = parent
        self.full = "csi.v1." + ".".join(path)
        self.swift = "CSI." + ".".join(path)
        self.key = ".".join(path)
        self.c_desc = "csi__v1__" + "__".join(c_snake(p) for p in path) + "__descriptor"
        self.accessor = "ccsi_descriptor_" + "_".join(path)
        self.is_map_entry = proto.options.map_entry
        self.children = []
        self.enums = []


class Model:
    def __init__(self, fds):
        self.files = {f.name: f for f in fds.file}
        self.csi = self.files["csi.proto"]
        self.msgs = {}  # full proto name -> Msg
        self.enums = {}  # full proto name -> (swift name, EnumDescriptorProto)
        self.top = []
        for m in self.csi.message_type:
            self.top.append(self._add(m, [m.name], None))

    def _add(self, proto, path, parent):
        msg = Msg(proto, path, parent)
        self.msgs["." + msg.full] = msg
        for e in proto.enum_type:
            swift = msg.swift + "." + type_name(e.name)
            self.enums["." + msg.full + "." + e.name] = (swift, e)
            msg.enums.append(e)
        for n in proto.nested_type:
            msg.children.append(self._add(n, path + [n.name], msg))
        return msg

    def all_msgs(self):
        out = []

        def walk(m):
            out.append(m)
            for c in m.children:
                walk(c)
        for m in self.top:
            walk(m)
        return out


class Field:
    """One Swift stored property (a plain field or a whole oneof)."""

    def __init__(self, model, msg, fp=None, oneof=None, members=None):
        self.model, self.msg, self.fp = model, msg, fp
        self.oneof, self.members = oneof, members
        if oneof is not None:
            self.name = esc(lower_camel(oneof))
            self.plain = lower_camel(oneof)
            self.enum_name = type_name(upper_camel(oneof))
            self.swift_type = f"{msg.swift}.{self.enum_name}?"
            self.default = "nil"
            self.kind = "oneof"
            return
        self.name = esc(lower_camel(fp.name))
        self.plain = lower_camel(fp.name)
        self.number = fp.number
        self.secret = is_secret(fp)
        rep = fp.label == F.LABEL_REPEATED
        t = fp.type
        if t == F.TYPE_MESSAGE:
            target = model.msgs.get(fp.type_name)
            if rep and target is not None and target.is_map_entry:
                kf, vf = target.proto.field
                assert kf.type == F.TYPE_STRING and vf.type == F.TYPE_STRING, fp.name
                self.kind, self.swift_type, self.default = "map", "[String: String]", "[:]"
            elif fp.type_name == ".google.protobuf.BoolValue":
                assert not rep
                self.kind, self.swift_type, self.default = "boolvalue", "Bool?", "nil"
            elif fp.type_name == ".google.protobuf.Int64Value":
                assert not rep
                self.kind, self.swift_type, self.default = "int64value", "Int64?", "nil"
            elif fp.type_name == ".google.protobuf.Timestamp":
                assert not rep
                self.kind, self.swift_type, self.default = "timestamp", "CSI.Timestamp?", "nil"
            else:
                assert target is not None, fp.type_name
                self.target = target
                if rep:
                    self.kind, self.swift_type, self.default = "messages", f"[{target.swift}]", "[]"
                else:
                    self.kind, self.swift_type, self.default = "message", f"{target.swift}?", "nil"
        elif t == F.TYPE_STRING:
            self.kind, self.swift_type, self.default = ("strings", "[String]", "[]") if rep else ("string", "String", '""')
        elif t == F.TYPE_ENUM:
            assert not rep
            swift, e = model.enums[fp.type_name]
            self.enum_swift, self.enum_proto = swift, e
            assert e.value[0].number == 0, e.name
            self.kind, self.swift_type, self.default = "enum", swift, f".{case_name(e.value[0].name)}"
        else:
            scalar = {F.TYPE_INT64: ("int64", "Int64", "0"), F.TYPE_INT32: ("int32", "Int32", "0"),
                      F.TYPE_BOOL: ("bool", "Bool", "false")}
            assert t in scalar and not rep, (fp.name, t)
            self.kind, self.swift_type, self.default = scalar[t]


def fields_of(model, msg):
    out = []
    seen = set()
    for fp in msg.proto.field:
        if fp.HasField("oneof_index") and not fp.proto3_optional:
            idx = fp.oneof_index
            if idx in seen:
                continue
            seen.add(idx)
            members = [x for x in msg.proto.field if x.HasField("oneof_index") and x.oneof_index == idx]
            out.append(Field(model, msg, oneof=msg.proto.oneof_decl[idx].name, members=[
                (x, model.msgs[x.type_name]) for x in members]))
        else:
            out.append(Field(model, msg, fp=fp))
    return out


def case_name(value_name):
    return esc(lower_camel(value_name))


HEADER = "// Generated by tools/gen_csi_swift.py from proto/csi.proto (make proto). Do not edit.\n"


def gen_types(model):
    o = [HEADER, "\n"]

    def enum_decl(swift_name, e, ind):
        p = " " * ind
        o.append(f"{p}/// The CSI enum `{e.name}`; values this build does not know stay `unrecognized`.\n")
        o.append(f"{p}public enum {swift_name}: Sendable, Hashable {{\n")
        for v in e.value:
            o.append(f"{p}    /// `{v.name}` ({v.number})\n{p}    case {case_name(v.name)}\n")
        o.append(f"{p}    /// A value outside this build's copy of the spec.\n{p}    case unrecognized(Int32)\n\n")
        o.append(f"{p}    /// Maps a wire value to its case.\n{p}    public init(rawValue: Int32) {{\n{p}        switch rawValue {{\n")
        for v in e.value:
            o.append(f"{p}        case {v.number}: self = .{case_name(v.name)}\n")
        o.append(f"{p}        default: self = .unrecognized(rawValue)\n{p}        }}\n{p}    }}\n\n")
        o.append(f"{p}    /// The wire value.\n{p}    public var rawValue: Int32 {{\n{p}        switch self {{\n")
        for v in e.value:
            o.append(f"{p}        case .{case_name(v.name)}: {v.number}\n")
        o.append(f"{p}        case .unrecognized(let raw): raw\n{p}        }}\n{p}    }}\n\n")
        o.append(f"{p}    /// Equal wire values are equal, so `.unrecognized(1)` equals the case numbered 1.\n")
        o.append(f"{p}    public static func == (lhs: Self, rhs: Self) -> Bool {{ lhs.rawValue == rhs.rawValue }}\n\n")
        o.append(f"{p}    /// Hashes the wire value.\n")
        o.append(f"{p}    public func hash(into hasher: inout Hasher) {{ hasher.combine(rawValue) }}\n{p}}}\n\n")

    def msg_decl(m, ind):
        p = " " * ind
        fs = fields_of(model, m)
        o.append(f"{p}/// The CSI message `{m.full}`.\n")
        o.append(f"{p}public struct {m.path[-1]}: Sendable, Equatable {{\n")
        for f in fs:
            if f.kind == "oneof":
                o.append(f"{p}    /// The oneof `{f.oneof}`; nil when no member is set.\n")
            else:
                extra = " Secret: never logged (csi_secret)." if f.secret else ""
                o.append(f"{p}    /// Field `{f.fp.name}` = {f.fp.number}.{extra}\n")
            o.append(f"{p}    public var {f.name}: {f.swift_type}\n")
        if fs:
            o.append("\n")
        for f in fs:
            if f.kind != "oneof":
                continue
            o.append(f"{p}    /// The members of the oneof `{f.oneof}`.\n")
            o.append(f"{p}    public enum {f.enum_name}: Sendable, Equatable {{\n")
            for fp, target in f.members:
                o.append(f"{p}        /// Member `{fp.name}` = {fp.number}.\n")
                o.append(f"{p}        case {case_name(fp.name)}({target.swift})\n")
            o.append(f"{p}    }}\n\n")
        for e in m.enums:
            enum_decl(type_name(e.name), e, ind + 4)
        for c in m.children:
            if not c.is_map_entry:
                msg_decl(c, ind + 4)
        params = ", ".join(f"{f.name}: {f.swift_type} = {f.default}" for f in fs)
        o.append(f"{p}    /// Memberwise initializer; every field defaults to its proto3 zero value.\n")
        o.append(f"{p}    public init({params}) {{\n")
        for f in fs:
            o.append(f"{p}        self.{f.plain} = {f.name}\n")
        o.append(f"{p}    }}\n{p}}}\n\n")

    o.append("extension CSI {\n")
    for m in model.top:
        msg_decl(m, 4)
    o[-1] = o[-1].rstrip("\n") + "\n"
    o.append("}\n")
    return "".join(o)


def reader_expr(f, r="r"):
    n = getattr(f, "number", None)
    k = f.kind
    if k == "string":
        return f"{r}.string({n})"
    if k in ("int64", "int32", "bool"):
        return f"{r}.{k}({n})"
    if k == "enum":
        return f"{f.enum_swift}(rawValue: {r}.enumValue({n}))"
    if k == "map":
        return f"{r}.map({n})"
    if k == "strings":
        return f"{r}.strings({n})"
    if k == "boolvalue":
        return f"{r}.message({n}).map {{ $0.bool(1) }}"
    if k == "int64value":
        return f"{r}.message({n}).map {{ $0.int64(1) }}"
    if k == "timestamp":
        return f"{r}.message({n}).map {{ CSI.Timestamp(seconds: $0.int64(1), nanos: $0.int32(2)) }}"
    if k == "message":
        return f"{r}.message({n}).map {{ {f.target.swift}(reader: $0) }}"
    if k == "messages":
        return f"{r}.messages({n}).map {{ {f.target.swift}(reader: $0) }}"
    raise AssertionError(k)


def writer_stmts(f, p):
    n = getattr(f, "number", None)
    k, v = f.kind, f"self.{f.plain}"
    if k == "string":
        return [f"w.setString({n}, {v})"]
    if k == "int64":
        return [f"w.setInt64({n}, {v})"]
    if k == "int32":
        return [f"w.setInt32({n}, {v})"]
    if k == "bool":
        return [f"w.setBool({n}, {v})"]
    if k == "enum":
        return [f"w.setEnum({n}, {v}.rawValue)"]
    if k == "map":
        return [f"w.setMap({n}, {v})"]
    if k == "strings":
        return [f"w.setStrings({n}, {v})"]
    if k == "boolvalue":
        return [f"if let v = {v} {{ w.setMessage({n}) {{ $0.setBool(1, v) }} }}"]
    if k == "int64value":
        return [f"if let v = {v} {{ w.setMessage({n}) {{ $0.setInt64(1, v) }} }}"]
    if k == "timestamp":
        return [f"if let v = {v} {{ w.setMessage({n}) {{ $0.setInt64(1, v.seconds); $0.setInt32(2, v.nanos) }} }}"]
    if k == "message":
        return [f"if let v = {v} {{ w.setMessage({n}) {{ v.write(to: $0) }} }}"]
    if k == "messages":
        return [f"w.setMessages({n}, {v}) {{ $0.write(to: $1) }}"]
    if k == "oneof":
        out = [f"switch {v} {{"]
        for fp, _ in f.members:
            out.append(f"case .{case_name(fp.name)}(let v)?: w.setMessage({fp.number}) {{ v.write(to: $0) }}")
        out.append("case nil: break")
        out.append("}")
        return out
    raise AssertionError(k)


def describe_stmt(f):
    k, v, label = f.kind, f"self.{f.plain}", f.plain
    if k == "oneof":
        lines = [f"switch {v} {{"]
        for fp, _ in f.members:
            lines.append(f'case .{case_name(fp.name)}(let v)?: d.append("{label}: {lower_camel(fp.name)}(\\(v.redactedDescription))")')
        lines.append("case nil: break")
        lines.append("}")
        return lines
    if k == "string":
        return [f'if !{v}.isEmpty {{ d.append("{label}: \\(CSIDescribe.quoted({v}))") }}']
    if k in ("int64", "int32"):
        return [f'if {v} != 0 {{ d.append("{label}: \\({v})") }}']
    if k == "bool":
        return [f'if {v} {{ d.append("{label}: true") }}']
    if k == "enum":
        return [f'if {v}.rawValue != 0 {{ d.append("{label}: \\({v})") }}']
    if k == "map":
        return [f'if !{v}.isEmpty {{ d.append("{label}: \\(CSIDescribe.map({v}, secret: {"true" if f.secret else "false"}))") }}']
    if k == "strings":
        return [f'if !{v}.isEmpty {{ d.append("{label}: \\(CSIDescribe.strings({v}))") }}']
    if k in ("boolvalue", "int64value"):
        return [f'if let v = {v} {{ d.append("{label}: \\(v)") }}']
    if k == "timestamp":
        return [f'if let v = {v} {{ d.append("{label}: \\(v)") }}']
    if k == "message":
        return [f'if let v = {v} {{ d.append("{label}: \\(v.redactedDescription)") }}']
    if k == "messages":
        return [f'if !{v}.isEmpty {{ d.append("{label}: [\\({v}.map(\\.redactedDescription).joined(separator: ", "))]") }}']
    raise AssertionError(k)


def sample_expr(f):
    k = f.kind
    pf = f.fp.name if f.fp is not None else f.oneof
    if k == "string":
        return f'"{pf}-\\(v)-é"'
    if k == "int64":
        return f"{f.number * 1_000_000_000_000 + 7} + Int64(v)"
    if k == "int32":
        return f"{f.number * 1000 + 7} + Int32(v)"
    if k == "bool":
        return "true"
    if k == "enum":
        last = f.enum_proto.value[-1]
        return f".{case_name(last.name)}"
    if k == "map":
        return f'["{pf}-k1": "v1-\\(v)", "{pf}-k2-é": "v2"]'
    if k == "strings":
        return f'["{pf}-a-\\(v)", "{pf}-b"]'
    if k == "boolvalue":
        return "v % 2 == 1"
    if k == "int64value":
        return f"{f.number * 1000 + 1} + Int64(v)"
    if k == "timestamp":
        return "CSI.Timestamp(seconds: 1_700_000_000 + Int64(v), nanos: 123_456_789)"
    if k == "message":
        return f"{f.target.swift}.sample(variant: v)"
    if k == "messages":
        return f"[{f.target.swift}.sample(variant: v), {f.target.swift}.sample(variant: v + 1)]"
    if k == "oneof":
        cases = [f".{case_name(fp.name)}({t.swift}.sample(variant: v))" for fp, t in f.members]
        if len(cases) == 1:
            return cases[0]
        body = ", ".join(cases)
        return f"[{body}][v % {len(cases)}]"
    raise AssertionError(k)


def gen_glue(model):
    o = [HEADER, "internal import CCSIProto\n\n"]
    msgs = [m for m in model.all_msgs() if not m.is_map_entry]
    for m in msgs:
        fs = fields_of(model, m)
        o.append(f"extension {m.swift}: CSIMessage, CSIGeneratedMessage {{\n")
        o.append(f"    static var cDescriptor: UnsafePointer<ProtobufCMessageDescriptor> {{ {m.accessor}() }}\n")
        o.append(f'    static var protoName: String {{ "{m.key}" }}\n\n')
        o.append("    /// Decodes the protobuf wire form; see `CSIDecodeError` for what is rejected.\n")
        o.append("    public init(serializedBytes bytes: [UInt8]) throws(CSIDecodeError) {\n")
        o.append("        self = try CSICodec.decode(Self.self, from: bytes, counter: nil)\n    }\n\n")
        o.append("    /// The protobuf wire form.\n")
        o.append("    public func serializedBytes() -> [UInt8] { CSICodec.encode(self) }\n\n")
        r = "r" if fs else "_"
        o.append(f"    init(reader {r}: CReader) {{\n")
        if fs:
            o.append("        self.init(\n")
            args = []
            for f in fs:
                if f.kind == "oneof":
                    chain = " ?? ".join(
                        f"r.message({fp.number}).map {{ {f.enum_name}.{case_name(fp.name)}({t.swift}(reader: $0)) }}"
                        for fp, t in f.members)
                    args.append(f"            {f.name}: {chain}")
                else:
                    args.append(f"            {f.name}: {reader_expr(f)}")
            o.append(",\n".join(args) + "\n        )\n")
        else:
            o.append("        self.init()\n")
        o.append("    }\n\n")
        w = "w" if fs else "_"
        o.append(f"    func write(to {w}: CWriter) {{\n")
        for f in fs:
            for line in writer_stmts(f, ""):
                o.append(f"        {line}\n")
        o.append("    }\n\n")
        o.append("    /// One line; values of `csi_secret` fields show as `***`.\n")
        o.append("    public var redactedDescription: String {\n")
        if fs:
            o.append("        var d: [String] = []\n")
            for f in fs:
                for line in describe_stmt(f):
                    o.append(f"        {line}\n")
            o.append(f'        return "{m.path[-1]}(" + d.joined(separator: ", ") + ")"\n')
        else:
            o.append(f'        "{m.path[-1]}()"\n')
        o.append("    }\n\n")
        o.append("    /// A value with every field set to a non-default value (oneofs pick member `variant % count`).\n")
        vv = "v" if any(f.kind not in ("bool", "enum") for f in fs) else "_"
        o.append(f"    package static func sample(variant {vv}: Int) -> Self {{\n")
        if fs:
            o.append("        Self(\n")
            o.append(",\n".join(f"            {f.name}: {sample_expr(f)}" for f in fs) + "\n        )\n")
        else:
            o.append("        Self()\n")
        o.append("    }\n}\n\n")

    # registry
    o.append("/// Every generated message type by its proto path (`VolumeCapability.MountVolume`).\n")
    o.append("package enum CSIMessageRegistry {\n")
    o.append("    /// The message types, keyed by proto path below `csi.v1`.\n")
    o.append("    package static let types: [String: any CSIMessage.Type] = [\n")
    for m in msgs:
        o.append(f'        "{m.key}": {m.swift}.self,\n')
    o.append("    ]\n\n")
    o.append("    /// A sample value with every field set, or nil for an unknown name.\n")
    o.append("    package static func sample(_ name: String, variant: Int = 0) -> (any CSIMessage)? {\n")
    o.append("        switch name {\n")
    for m in msgs:
        o.append(f'        case "{m.key}": {m.swift}.sample(variant: variant)\n')
    o.append("        default: nil\n        }\n    }\n}\n")
    return "".join(o)


def gen_methods(model):
    o = ["\n/// Every CSI RPC this build serves, by its gRPC path.\n",
         "public enum CSIMethod: String, CaseIterable, Sendable {\n"]
    rows = []
    for s in model.csi.service:
        for mth in s.method:
            rows.append((s.name, mth))
            o.append(f"    /// `{s.name}.{mth.name}`\n")
            o.append(f'    case {lower_camel(c_snake(mth.name))} = "/csi.v1.{s.name}/{mth.name}"\n')
    o.append("\n    /// The fully qualified service, e.g. `csi.v1.Controller`.\n")
    o.append("    public var serviceName: String {\n        switch self {\n")
    for s in model.csi.service:
        names = ", ".join("." + lower_camel(c_snake(m.name)) for m in s.method)
        o.append(f'        case {names}:\n            "csi.v1.{s.name}"\n')
    o.append("        }\n    }\n\n")
    o.append("    /// The method name alone, e.g. `CreateSnapshot`.\n")
    o.append("    public var methodName: String { String(rawValue.split(separator: \"/\").last!) }\n\n")
    for attr, which in (("requestType", "input_type"), ("responseType", "output_type")):
        o.append(f"    /// The {'request' if attr == 'requestType' else 'response'} message type.\n")
        o.append(f"    public var {attr}: any CSIMessage.Type {{\n        switch self {{\n")
        for sname, mth in rows:
            o.append(f"        case .{lower_camel(c_snake(mth.name))}: {model.msgs[getattr(mth, which)].swift}.self\n")
        o.append("        }\n    }\n\n")
    o[-1] = o[-1].rstrip("\n") + "\n"
    o.append("}\n")
    return "".join(o)


def gen_c_header(model, header_text):
    o = ["/* Generated by tools/gen_csi_swift.py (make proto). Do not edit. */\n",
         "/* Accessors that hand Swift the real address of each protobuf-c descriptor\n",
         "   (taking the address of the imported global in Swift may yield a copy). */\n",
         "#ifndef CCSI_DESCRIPTORS_H\n#define CCSI_DESCRIPTORS_H\n\n#include \"csi.pb-c.h\"\n\n"]
    for m in model.all_msgs():
        if m.is_map_entry:
            continue
        if f"extern const ProtobufCMessageDescriptor {m.c_desc};" not in header_text:
            raise SystemExit(f"descriptor symbol {m.c_desc} not found in csi.pb-c.h")
        o.append(f"static inline const ProtobufCMessageDescriptor *{m.accessor}(void) {{ return &{m.c_desc}; }}\n")
    o.append("\n#endif\n")
    return "".join(o)


def main():
    desc_set, swift_dir, c_header, pbc_header = sys.argv[1:5]
    fds = d.FileDescriptorSet()
    with open(desc_set, "rb") as fh:
        fds.ParseFromString(fh.read())
    model = Model(fds)
    with open(pbc_header) as fh:
        header_text = fh.read()
    with open(f"{swift_dir}/CSITypes.swift", "w") as fh:
        fh.write(gen_types(model) + gen_methods(model))
    with open(f"{swift_dir}/CSICodecGlue.swift", "w") as fh:
        fh.write(gen_glue(model))
    with open(c_header, "w") as fh:
        fh.write(gen_c_header(model, header_text))


if __name__ == "__main__":
    main()
