import Foundation
import Synchronization
import WfloCore

/// A table file's models, indexed but not decoded: each model name with the byte range of its
/// entry in the file's text. An entry is parsed and checked (``ModelPrice/init(name:entry:source:)``,
/// the same checks and messages as an eager load) the first time it is used, then cached.
///
/// Built by ``index(_:source:)`` with one pass over the bytes that builds no JSON values: the
/// shipped table is 3 MB and 4,500 models, of which a command uses a few or none.
final class LazyEntries: Sendable {
    let data: Data
    let source: String
    /// Model name → the byte range of its entry (the JSON value after the key's colon).
    let ranges: [String: Range<Int>]
    private let cache = Mutex<[String: ModelPrice]>([:])
    /// How many entries were decoded (cache misses that succeeded or threw); for tests.
    private let decodes = Mutex(0)

    private init(data: Data, source: String, ranges: [String: Range<Int>]) {
        self.data = data
        self.source = source
        self.ranges = ranges
    }

    var names: Dictionary<String, Range<Int>>.Keys { ranges.keys }

    var decodeCount: Int { decodes.withLock { $0 } }

    /// The entry for `name`, decoded on first use; nil when the file has no such model.
    /// - Throws: ``PricingError``: `malformedEntry` as an eager load reports it; `unreadableTable`
    ///   with the whole file's parse error when the entry's text is not valid JSON.
    func entry(_ name: String) throws -> ModelPrice? {
        guard let range = ranges[name] else { return nil }
        if let cached = cache.withLock({ $0[name] }) { return cached }
        decodes.withLock { $0 += 1 }
        let json: JSONValue
        do {
            json = try JSONValue.parse(data.subdata(in: range))
        } catch {
            // Report it as a load of the whole file does, with the file's line and column.
            _ = try PricingTable.parseData(data, path: source)
            throw PricingError(.unreadableTable, "the pricing file '\(source)' is not valid JSON: \(error)")
        }
        let price = try ModelPrice(name: name, entry: json, source: source)
        cache.withLock { $0[name] = price }
        return price
    }

    /// Indexes a table's text; nil when it is not a JSON object whose structure the scanner can
    /// follow (the caller then parses it whole, for the parser's error message).
    static func index(_ data: Data, source: String) -> LazyEntries? {
        let ranges: [String: Range<Int>]? = data.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return nil }
            var scanner = TopLevelScanner(bytes: UnsafeBufferPointer(start: base.assumingMemoryBound(to: UInt8.self), count: raw.count))
            return scanner.scan()
        }
        guard var ranges else { return nil }
        for key in PricingTable.metadataKeys { ranges[key] = nil }
        return LazyEntries(data: data, source: source, ranges: ranges)
    }
}

/// Follows a JSON object's top level: keys are read, values skipped by matching brackets and
/// strings. Anything it cannot follow gives nil; the value texts are checked when decoded.
private struct TopLevelScanner {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    mutating func scan() -> [String: Range<Int>]? {
        var ranges: [String: Range<Int>] = [:]
        ranges.reserveCapacity(bytes.count / 512)
        skipWhitespace()
        guard next() == UInt8(ascii: "{") else { return nil }
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            index += 1
            return finished() ? ranges : nil
        }
        while true {
            skipWhitespace()
            guard let key = readKey() else { return nil }
            skipWhitespace()
            guard next() == UInt8(ascii: ":") else { return nil }
            skipWhitespace()
            let start = index
            guard skipValue() else { return nil }
            ranges[key] = start..<index
            skipWhitespace()
            switch next() {
            case UInt8(ascii: ","): continue
            case UInt8(ascii: "}"): return finished() ? ranges : nil
            default: return nil
            }
        }
    }

    mutating func finished() -> Bool {
        skipWhitespace()
        return index == bytes.count
    }

    func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

    mutating func next() -> UInt8? {
        guard index < bytes.count else { return nil }
        defer { index += 1 }
        return bytes[index]
    }

    mutating func skipWhitespace() {
        while index < bytes.count, TopLevelScanner.isWhitespace(bytes[index]) { index += 1 }
    }

    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }

    /// A key's text; one with escapes is decoded by the JSON parser.
    mutating func readKey() -> String? {
        let start = index
        guard skipString() else { return nil }
        let body = UnsafeBufferPointer(rebasing: bytes[(start + 1)..<(index - 1)])
        if !body.contains(UInt8(ascii: "\\")) { return String(decoding: body, as: UTF8.self) }
        return (try? JSONValue.parse(bytes: UnsafeBufferPointer(rebasing: bytes[start..<index])))?.stringValue
    }

    /// Skips a string starting at `index` (its opening quote).
    mutating func skipString() -> Bool {
        guard next() == UInt8(ascii: "\"") else { return false }
        while let byte = next() {
            if byte == UInt8(ascii: "\\") {
                guard next() != nil else { return false }
            } else if byte == UInt8(ascii: "\"") {
                return true
            }
        }
        return false
    }

    /// Skips one value: a string, an object or array (to its matching bracket), or a scalar's text.
    mutating func skipValue() -> Bool {
        guard let first = peek() else { return false }
        switch first {
        case UInt8(ascii: "\""):
            return skipString()
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            while let byte = peek() {
                switch byte {
                case UInt8(ascii: "\""):
                    guard skipString() else { return false }
                    continue
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 { index += 1; return true }
                default: break
                }
                index += 1
            }
            return false
        default:
            let start = index
            while let byte = peek(), byte != UInt8(ascii: ","), byte != UInt8(ascii: "}"), !TopLevelScanner.isWhitespace(byte) { index += 1 }
            return index > start
        }
    }
}
