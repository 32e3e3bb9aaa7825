import Foundation

/// A deterministic mutator for fuzzing text readers (workflow YAML, pricing JSON, input files).
///
/// Every mutant is a function of the seed text and a 64-bit seed, so a mutant that breaks a
/// reader can be rebuilt from the two numbers a fuzz run prints. A mutant applies one to four
/// edits chosen from: a changed, inserted or deleted byte; NUL and invalid UTF-8; a repeated,
/// deleted or swapped line (duplicate keys); CRLF or CR line endings; a number replaced by a
/// hostile one (`1e309`, `1e128`, `-1`, `.nan`, 20-digit integers); a token replaced by YAML
/// syntax (`*a`, `&a`, `<<: *a`, `{`, `|`, `!!binary`, `{{`); an alias bomb; deep nesting;
/// a changed indentation; a cut.
///
/// ```swift
/// var mutator = Mutator(seed: 42)
/// let mutant = mutator.mutate(Array(yaml.utf8))
/// ```
public struct Mutator: Sendable {
    /// SplitMix64: small, fast and the same on every platform.
    public struct Generator: RandomNumberGenerator, Sendable {
        private var state: UInt64
        public init(seed: UInt64) { state = seed }
        public mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    public static let hostileNumbers = [
        "1e309", "-1e309", "1e128", "1e127", "1e125", "-1", "-0.000001", "0", "-0", "1e-400", ".nan", ".NaN", ".inf", "-.inf",
        "NaN", "inf", "99999999999999999999999999999999", "18446744073709551616", "9223372036854775808", "0x7fffffff",
        "1_000_000", "0o17", "1e", "1.5e-07", "+3", ".5", "007",
    ]

    public static let hostileTokens = [
        "*a", "&a", "&a x", "<<: *a", "~", "null", "{", "}", "[", "]", "'", "\"", "{{", "}}", "{{steps.a.output}}", "{{secrets.S}}",
        "!!binary", "!!str", "!!int", "!!float", "!foo", "? ", "- ", "|", ">", "#", "%YAML 1.1", "---", "...", "@", "`", ": ", ",",
        "\t", "\u{FEFF}", "\u{2028}", "é", "true", "yes", "", "a: b: c",
    ]

    public static let hostileBytes: [[UInt8]] = [[0], [0xFF], [0xC3], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0x0D], [0x0A], [0x09], [0x85]]

    private var generator: Generator

    public init(seed: UInt64) {
        generator = Generator(seed: seed)
    }

    /// One mutant of `input`.
    public mutating func mutate(_ input: [UInt8]) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...4, using: &generator) {
            bytes = edit(bytes)
        }
        return bytes
    }

    private mutating func index(in bytes: [UInt8]) -> Int {
        bytes.isEmpty ? 0 : Int.random(in: 0...bytes.count, using: &generator)
    }

    private mutating func pick<T>(_ items: [T]) -> T {
        items[Int.random(in: 0..<items.count, using: &generator)]
    }

    private mutating func edit(_ bytes: [UInt8]) -> [UInt8] {
        var out = bytes
        switch Int.random(in: 0..<14, using: &generator) {
        case 0 where !out.isEmpty:
            out[Int.random(in: 0..<out.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
        case 1:
            out.insert(contentsOf: pick(Self.hostileBytes), at: index(in: out))
        case 2 where !out.isEmpty:
            let start = Int.random(in: 0..<out.count, using: &generator)
            out.removeSubrange(start..<min(out.count, start + Int.random(in: 1...16, using: &generator)))
        case 3, 4, 5:
            var lines = Self.lines(out)
            guard !lines.isEmpty else { break }
            let a = Int.random(in: 0..<lines.count, using: &generator)
            let b = Int.random(in: 0..<lines.count, using: &generator)
            switch Int.random(in: 0..<3, using: &generator) {
            case 0: lines.insert(lines[a], at: b)          // a repeated key, often
            case 1: lines.remove(at: a)
            default: lines.swapAt(a, b)
            }
            out = Array(lines.joined(separator: [0x0A]))
        case 6:
            let ending: [UInt8] = Bool.random(using: &generator) ? [0x0D, 0x0A] : [0x0D]
            out = Array(Self.lines(out).joined(separator: ending))
        case 7:
            out = replaceToken(out, where: { (48...57).contains($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "e") },
                               with: pick(Self.hostileNumbers))
        case 8:
            out = replaceToken(out, where: { $0 > 0x20 && $0 != UInt8(ascii: ":") && $0 != UInt8(ascii: ",") }, with: pick(Self.hostileTokens))
        case 9:
            out.insert(contentsOf: Array(Self.aliasBomb(levels: Int.random(in: 3...9, using: &generator)).utf8), at: lineStart(out))
        case 10:
            let depth = Int.random(in: 1...2000, using: &generator)
            let open = Bool.random(using: &generator) ? "[" : "{a: "
            let close = open == "[" ? "]" : "}"
            let nested = String(repeating: open, count: depth) + "1" + String(repeating: close, count: depth)
            out.insert(contentsOf: Array(nested.utf8), at: index(in: out))
        case 11:
            var lines = Self.lines(out)
            guard !lines.isEmpty else { break }
            let a = Int.random(in: 0..<lines.count, using: &generator)
            if Bool.random(using: &generator) {
                lines[a].insert(contentsOf: [UInt8](repeating: 0x20, count: Int.random(in: 1...4, using: &generator)), at: 0)
            } else {
                lines[a] = Array(lines[a].drop { $0 == 0x20 })
            }
            out = Array(lines.joined(separator: [0x0A]))
        case 12:
            out = Array(out.prefix(index(in: out)))
        default:
            // Splice: a copy of a random stretch elsewhere.
            guard out.count > 2 else { break }
            let start = Int.random(in: 0..<out.count, using: &generator)
            let piece = Array(out[start..<min(out.count, start + Int.random(in: 1...64, using: &generator))])
            out.insert(contentsOf: piece, at: index(in: out))
        }
        return out
    }

    /// Replaces a random run of bytes matching `isToken` with `replacement`.
    private mutating func replaceToken(_ bytes: [UInt8], where isToken: (UInt8) -> Bool, with replacement: String) -> [UInt8] {
        let starts = bytes.indices.filter { isToken(bytes[$0]) && ($0 == 0 || !isToken(bytes[$0 - 1])) }
        guard !starts.isEmpty else { return bytes + Array(replacement.utf8) }
        let start = pick(starts)
        var end = start
        while end < bytes.count, isToken(bytes[end]) { end += 1 }
        var out = bytes
        out.replaceSubrange(start..<end, with: Array(replacement.utf8))
        return out
    }

    private mutating func lineStart(_ bytes: [UInt8]) -> Int {
        let starts = [0] + bytes.indices.filter { bytes[$0] == 0x0A }.map { $0 + 1 }
        return pick(starts)
    }

    private static func lines(_ bytes: [UInt8]) -> [[UInt8]] {
        bytes.split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init)
    }

    /// `levels` levels of ten aliases each, as top-level keys (`b0` … `bN`).
    public static func aliasBomb(levels: Int) -> String {
        var lines = ["b0: &b0 [x, x, x, x, x, x, x, x, x, x]"]
        for level in 1..<max(2, levels) {
            lines.append("b\(level): &b\(level) [" + Array(repeating: "*b\(level - 1)", count: 10).joined(separator: ", ") + "]")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
