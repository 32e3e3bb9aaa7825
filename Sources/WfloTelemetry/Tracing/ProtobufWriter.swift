/// The few protobuf wire types an OTLP trace export needs, written into a byte array: varints,
/// fixed64, and length-delimited fields (bytes, strings, nested messages).
///
/// A nested message is written in place: its field header and a maximal-width length placeholder
/// are reserved, the body is appended, then the length is patched and the gap closed. Field numbers
/// and types follow opentelemetry-proto (checked against its PyPI package, the one the tests' receiver decodes with).
struct ProtobufWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    private enum WireType: UInt8 {
        case varint = 0, fixed64 = 1, lengthDelimited = 2
    }

    private mutating func tag(_ field: UInt32, _ type: WireType) {
        appendVarint(UInt64(field) << 3 | UInt64(type.rawValue))
    }

    private mutating func appendVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    /// A varint field (int64, uint32, enum, bool); zero is the default and is not written.
    mutating func varint(_ field: UInt32, _ value: UInt64) {
        guard value != 0 else { return }
        tag(field, .varint)
        appendVarint(value)
    }

    /// An int64 field: two's complement in ten bytes when negative, as protobuf writes it.
    mutating func int64(_ field: UInt32, _ value: Int64) {
        varint(field, UInt64(bitPattern: value))
    }

    /// A bool field, written even when false (inside a oneof, false is a value).
    mutating func bool(_ field: UInt32, _ value: Bool) {
        tag(field, .varint)
        bytes.append(value ? 1 : 0)
    }

    /// A fixed64 field (little-endian), e.g. a time in nanoseconds since the epoch.
    mutating func fixed64(_ field: UInt32, _ value: UInt64) {
        guard value != 0 else { return }
        tag(field, .fixed64)
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// A double field, written even when zero (inside a oneof, 0.0 is a value).
    mutating func double(_ field: UInt32, _ value: Double) {
        tag(field, .fixed64)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// A string field; empty is the default and is not written unless `always`.
    mutating func string(_ field: UInt32, _ value: String, always: Bool = false) {
        guard always || !value.isEmpty else { return }
        tag(field, .lengthDelimited)
        var value = value
        value.withUTF8 { utf8 in
            appendVarint(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    /// A bytes field; empty is not written.
    mutating func data(_ field: UInt32, _ value: some Collection<UInt8>) {
        guard !value.isEmpty else { return }
        tag(field, .lengthDelimited)
        appendVarint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    /// A nested message field: `body` writes the message's own fields into this writer.
    mutating func message(_ field: UInt32, _ body: (inout ProtobufWriter) -> Void) {
        tag(field, .lengthDelimited)
        // Five bytes hold any length below 2^35; the unused ones are removed once the length is known.
        let lengthAt = bytes.count
        for _ in 0..<5 { bytes.append(0) }
        let start = bytes.count
        body(&self)
        var value = UInt64(bytes.count - start)
        var at = lengthAt
        while value >= 0x80 {
            bytes[at] = UInt8(truncatingIfNeeded: value) | 0x80
            value >>= 7
            at += 1
        }
        bytes[at] = UInt8(value)
        if at + 1 < start { bytes.removeSubrange((at + 1)..<start) }
    }
}

extension ProtobufWriter {
    /// A 16-byte id (a trace id) as a bytes field: `high` then `low`, big-endian, as the hex of a traceparent reads.
    mutating func id128(_ field: UInt32, high: UInt64, low: UInt64) {
        tag(field, .lengthDelimited)
        bytes.append(16)
        withUnsafeBytes(of: high.bigEndian) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: low.bigEndian) { bytes.append(contentsOf: $0) }
    }

    /// An 8-byte id (a span id) as a bytes field, big-endian; zero (no parent) is not written.
    mutating func id64(_ field: UInt32, _ value: UInt64) {
        guard value != 0 else { return }
        tag(field, .lengthDelimited)
        bytes.append(8)
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    /// Bytes already encoded as a message's fields (a resource written once).
    mutating func raw(_ encoded: [UInt8]) {
        bytes.append(contentsOf: encoded)
    }
}
