import Foundation

/// An IPv4 or IPv6 address as its bytes (4 or 16), parsed and classified in pure Swift so the
/// parser (validating `egress:` entries) and the engine (checking DNS answers) agree.
public struct IPAddress: Sendable, Hashable, Codable, CustomStringConvertible {
    /// 4 bytes for IPv4, 16 for IPv6, network order.
    public let bytes: [UInt8]

    /// Nil unless `bytes` has 4 or 16 elements.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// Parses `192.0.2.1`, `::1`, `2001:db8::5`, `::ffff:10.0.0.1`, and a bracketed IPv6 (`[::1]`).
    public init?(_ text: String) {
        var text = Substring(text)
        if text.hasPrefix("["), text.hasSuffix("]") { text = text.dropFirst().dropLast() }
        if let v4 = IPAddress.parseV4(text) {
            bytes = v4
        } else if let v6 = IPAddress.parseV6(text) {
            bytes = v6
        } else {
            return nil
        }
    }

    public var isIPv4: Bool { bytes.count == 4 }

    public var description: String {
        if isIPv4 { return bytes.map(String.init).joined(separator: ".") }
        var groups: [UInt16] = []
        for i in stride(from: 0, to: 16, by: 2) { groups.append(UInt16(bytes[i]) << 8 | UInt16(bytes[i + 1])) }
        // The longest run of two or more zero groups becomes "::".
        var best = (start: -1, length: 0)
        var i = 0
        while i < 8 {
            if groups[i] == 0 {
                var j = i
                while j < 8, groups[j] == 0 { j += 1 }
                if j - i > best.length, j - i >= 2 { best = (i, j - i) }
                i = j
            } else {
                i += 1
            }
        }
        let hex = groups.map { String($0, radix: 16) }
        if best.start < 0 { return hex.joined(separator: ":") }
        let head = hex[..<best.start].joined(separator: ":")
        let tail = hex[(best.start + best.length)...].joined(separator: ":")
        return head + "::" + tail
    }

    /// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`) or NAT64 (`64:ff9b::a.b.c.d`) IPv6 address.
    public var embeddedIPv4: IPAddress? {
        guard bytes.count == 16 else { return nil }
        let mapped = bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xff && bytes[11] == 0xff
        let nat64 = bytes[0..<12] == [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0]
        return mapped || nat64 ? IPAddress(bytes: Array(bytes[12...])) : nil
    }

    /// What kind of non-public address this is (`loopback`, `private`, `link-local`, …), or nil
    /// for a public (globally routable) one. Egress refuses non-public addresses unless listed.
    public var nonPublicKind: String? {
        if let inner = embeddedIPv4 { return inner.nonPublicKind }
        for (network, kind) in IPAddress.reserved where network.contains(self) { return kind }
        return nil
    }

    private static let reserved: [(IPNetwork, String)] = [
        ("0.0.0.0/8", "unspecified"), ("10.0.0.0/8", "private"), ("100.64.0.0/10", "shared (carrier-grade NAT)"),
        ("127.0.0.0/8", "loopback"), ("169.254.0.0/16", "link-local"), ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "reserved"), ("192.0.2.0/24", "documentation"), ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"), ("198.51.100.0/24", "documentation"), ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"), ("240.0.0.0/4", "reserved"),
        ("::/128", "unspecified"), ("::1/128", "loopback"), ("fc00::/7", "private (unique local)"),
        ("fe80::/10", "link-local"), ("ff00::/8", "multicast"), ("2001:db8::/32", "documentation"),
    ].map { (IPNetwork($0.0)!, $0.1) }

    static func parseV4(_ text: Substring) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy(\.isASCII), part.allSatisfy(\.isNumber),
                  let n = UInt8(part), part == "0" || !part.hasPrefix("0") else { return nil }
            bytes.append(n)
        }
        return bytes
    }

    static func parseV6(_ text: Substring) -> [UInt8]? {
        guard text.contains(":") else { return nil }
        var text = text
        if let percent = text.firstIndex(of: "%") { text = text[..<percent] }  // zone id
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String) -> [UInt8]? {
            if part.isEmpty { return [] }
            var out: [UInt8] = []
            let items = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, item) in items.enumerated() {
                if index == items.count - 1, item.contains("."), let v4 = parseV4(item) {
                    out += v4
                    continue
                }
                guard (1...4).contains(item.count), let n = UInt16(item, radix: 16) else { return nil }
                out += [UInt8(n >> 8), UInt8(n & 0xff)]
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        if halves.count == 1 { return head.count == 16 ? head : nil }
        guard let tail = groups(halves[1]), head.count + tail.count <= 14 else { return nil }
        return head + [UInt8](repeating: 0, count: 16 - head.count - tail.count) + tail
    }
}

/// An address range written as CIDR (`10.0.0.0/8`, `fd00::/8`) or one address (`127.0.0.1`).
public struct IPNetwork: Sendable, Hashable, Codable, CustomStringConvertible {
    public let address: IPAddress
    public let prefixLength: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(String(parts[0])) else { return nil }
        let width = address.bytes.count * 8
        if parts.count == 2 {
            guard let n = Int(parts[1]), (0...width).contains(n) else { return nil }
            prefixLength = n
        } else {
            prefixLength = width
        }
        self.address = address
    }

    /// Whether `other` is in the range (an IPv4 range also holds the IPv4-mapped IPv6 form).
    public func contains(_ other: IPAddress) -> Bool {
        var candidate = other
        if address.isIPv4, !other.isIPv4 {
            guard let inner = other.embeddedIPv4 else { return false }
            candidate = inner
        }
        guard candidate.bytes.count == address.bytes.count else { return false }
        var bits = prefixLength
        for (a, b) in zip(address.bytes, candidate.bytes) {
            if bits <= 0 { return true }
            let mask: UInt8 = bits >= 8 ? 0xff : ~(0xff >> UInt8(bits))
            if a & mask != b & mask { return false }
            bits -= 8
        }
        return true
    }

    public var description: String {
        prefixLength == address.bytes.count * 8 ? address.description : "\(address)/\(prefixLength)"
    }
}
