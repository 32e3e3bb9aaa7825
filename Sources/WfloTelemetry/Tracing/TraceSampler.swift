/// Which new spans are recorded and exported (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`):
/// `always_on`, `always_off`, `traceidratio`, and their `parentbased_*` forms (the default,
/// `parentbased_always_on`), which follow the parent's sampled flag when there is a parent.
///
/// A span that is not sampled still gets a context, so its trace id travels on (with the flag off).
public struct TraceSampler: Sendable, Equatable, CustomStringConvertible {
    public enum Root: Sendable, Equatable {
        case alwaysOn
        case alwaysOff
        /// Keeps a trace when the low 64 bits of its id fall below `ratio` of their range.
        case traceIDRatio(Double)
    }

    public var root: Root
    /// A span with a parent follows the parent's sampled flag; only a root span asks ``root``.
    public var parentBased: Bool

    public static let `default` = TraceSampler(root: .alwaysOn, parentBased: true)

    public init(root: Root, parentBased: Bool) {
        self.root = root
        self.parentBased = parentBased
    }

    /// The sampler `OTEL_TRACES_SAMPLER` names, with the ratio `OTEL_TRACES_SAMPLER_ARG` gives
    /// (the ratio samplers only; 1.0 when unset).
    /// - Throws: ``TelemetryError`` naming the variable and the values it takes.
    public init(name: String?, argument: String?) throws(TelemetryError) {
        let name = name?.lowercased() ?? "parentbased_always_on"
        var ratio: Double = 1
        if name.hasSuffix("traceidratio"), let argument {
            guard let value = Double(argument), value >= 0, value <= 1 else {
                throw .unsupported(variable: "OTEL_TRACES_SAMPLER_ARG", value: argument, hint: "give the share of traces to keep, a number from 0 to 1 such as 0.25")
            }
            ratio = value
        }
        switch name {
        case "always_on": self.init(root: .alwaysOn, parentBased: false)
        case "always_off": self.init(root: .alwaysOff, parentBased: false)
        case "traceidratio": self.init(root: .traceIDRatio(ratio), parentBased: false)
        case "parentbased_always_on": self.init(root: .alwaysOn, parentBased: true)
        case "parentbased_always_off": self.init(root: .alwaysOff, parentBased: true)
        case "parentbased_traceidratio": self.init(root: .traceIDRatio(ratio), parentBased: true)
        default:
            throw .unsupported(variable: "OTEL_TRACES_SAMPLER", value: name,
                               hint: "give always_on, always_off, traceidratio, parentbased_always_on (the default), parentbased_always_off or parentbased_traceidratio")
        }
    }

    /// Whether a new span in trace `traceIDLow` (the id's low 64 bits) under `parent` is recorded.
    func samples(traceIDLow: UInt64, parent: SpanContext?) -> Bool {
        if parentBased, let parent { return parent.isSampled }
        switch root {
        case .alwaysOn: return true
        case .alwaysOff: return false
        case .traceIDRatio(let ratio):
            if ratio >= 1 { return true }
            if ratio <= 0 { return false }
            return traceIDLow < UInt64(ratio * Double(UInt64.max))
        }
    }

    public var description: String {
        let root: String
        switch self.root {
        case .alwaysOn: root = "always_on"
        case .alwaysOff: root = "always_off"
        case .traceIDRatio(let ratio): root = "traceidratio \(ratio)"
        }
        return parentBased ? "parentbased_" + root : root
    }
}
