import Foundation
import Synchronization
import Tracing

/// The identity of a span as W3C trace context carries it: a 16-byte trace id, an 8-byte span id,
/// the flags (bit 0: sampled) and the vendors' `tracestate`, and whether it came from another process.
struct SpanContext: Sendable, Hashable {
    var traceIDHigh: UInt64
    var traceIDLow: UInt64
    var spanID: UInt64
    var flags: UInt8
    var traceState: String
    /// Extracted from a `traceparent` (another process's span), not started here.
    var isRemote: Bool

    var isSampled: Bool { flags & 1 == 1 }

    /// `00-<trace id>-<span id>-<flags>` in lowercase hex.
    var traceparent: String {
        var text = "00-"
        text.reserveCapacity(55)
        Self.appendHex(traceIDHigh, digits: 16, to: &text)
        Self.appendHex(traceIDLow, digits: 16, to: &text)
        text.append("-")
        Self.appendHex(spanID, digits: 16, to: &text)
        text.append("-")
        Self.appendHex(UInt64(flags), digits: 2, to: &text)
        return text
    }

    init(traceIDHigh: UInt64, traceIDLow: UInt64, spanID: UInt64, flags: UInt8, traceState: String = "", isRemote: Bool = false) {
        self.traceIDHigh = traceIDHigh
        self.traceIDLow = traceIDLow
        self.spanID = spanID
        self.flags = flags
        self.traceState = traceState
        self.isRemote = isRemote
    }

    /// A caller's context from its `traceparent` header (version 00, or a later version read as 00
    /// as W3C asks), or nil when it is not one: wrong length, not hex, or an all-zero id.
    init?(traceparent: String, traceState: String?) {
        let parts = traceparent.trimmingCharacters(in: .whitespaces).split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[0].count == 2, parts[0] != "ff", parts[1].count == 32, parts[2].count == 16, parts[3].count == 2,
              parts[0] != "00" || parts.count == 4,
              let high = UInt64(parts[1].prefix(16), radix: 16), let low = UInt64(parts[1].suffix(16), radix: 16),
              let span = UInt64(parts[2], radix: 16), let flags = UInt8(parts[3], radix: 16),
              parts[1].allSatisfy(\.isHexDigit), parts[2].allSatisfy(\.isHexDigit), parts[3].allSatisfy(\.isHexDigit),
              high != 0 || low != 0, span != 0 else { return nil }
        self.init(traceIDHigh: high, traceIDLow: low, spanID: span, flags: flags, traceState: traceState ?? "", isRemote: true)
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    private static func appendHex(_ value: UInt64, digits: Int, to text: inout String) {
        var scalars = [UInt8](repeating: 0, count: digits)
        var value = value
        for index in stride(from: digits - 1, through: 0, by: -1) {
            scalars[index] = hexDigits[Int(value & 0xf)]
            value >>= 4
        }
        text.append(String(decoding: scalars, as: UTF8.self))
    }
}

/// Where a span's context travels inside the process: in the task-local `InstrumentationContext`.
enum SpanContextKey: ServiceContextKey {
    typealias Value = SpanContext
    static var nameOverride: String? { "wflo-span-context" }
}

extension InstrumentationContext {
    var spanContext: SpanContext? {
        get { self[SpanContextKey.self] }
        set { self[SpanContextKey.self] = newValue }
    }
}

/// Trace and span ids: a counter, never repeating in a process, run through splitmix64 (a bijection)
/// from a random start, so ids look random, are never zero and cost an atomic add, not a lock or a syscall.
final class SpanIDGenerator: Sendable {
    private let counter: Atomic<UInt64>
    private let seed: UInt64

    init(seed: UInt64 = UInt64.random(in: .min ... .max)) {
        self.seed = seed
        counter = Atomic(0)
    }

    private func next() -> UInt64 {
        while true {
            let n = counter.wrappingAdd(1, ordering: .relaxed).oldValue
            var z = seed &+ n &* 0x9e37_79b9_7f4a_7c15
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            z ^= z >> 31
            if z != 0 { return z }
        }
    }

    func nextSpanID() -> UInt64 { next() }

    func nextTraceID() -> (high: UInt64, low: UInt64) { (next(), next()) }
}
