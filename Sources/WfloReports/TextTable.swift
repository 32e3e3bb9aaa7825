/// A plain-text table with columns padded to their widest cell (by characters).
public struct TextTable: Sendable {
    public var header: [String]
    public var rows: [[String]]
    public var rightAligned: Set<Int>

    public init(header: [String], rows: [[String]], rightAligned: Set<Int> = []) {
        self.header = header
        self.rows = rows
        self.rightAligned = rightAligned
    }

    /// - Parameter separatorBefore: index of a row to draw a rule above (a totals row).
    public func render(separatorBefore: Int?) -> String {
        // Each cell's width counted once (counting characters walks the string).
        let headerWidths = header.map(Self.width)
        let cellWidths = rows.map { $0.map(Self.width) }
        // A row may have more cells than the header: its extra columns get widths of their own.
        var widths = headerWidths + Array(repeating: 0, count: max(0, (cellWidths.map(\.count).max() ?? 0) - headerWidths.count))
        for row in cellWidths {
            for (i, width) in row.enumerated() { widths[i] = max(widths[i], width) }
        }
        let right = widths.indices.map { rightAligned.contains($0) }
        // The table is written as bytes and made a String once: a 100,000-row report was mostly
        // the appends and copies of a String per padded cell and per line.
        var out: [UInt8] = []
        out.reserveCapacity((widths.reduce(0, +) + 2 * widths.count + 1) * (rows.count + 3))
        func line(_ cells: [String], _ cellWidths: [Int]) {
            let start = out.count
            for (i, cell) in cells.enumerated() {
                if i > 0 { out.append(0x20); out.append(0x20) }
                let pad = max(0, widths[i] - cellWidths[i])
                if right[i] { out.append(contentsOf: repeatElement(0x20, count: pad)) }
                out.append(contentsOf: cell.utf8)
                if !right[i] { out.append(contentsOf: repeatElement(0x20, count: pad)) }
            }
            // Trailing white space dropped: ASCII here; a line ending in any other byte may end in a
            // Unicode separator, which the String rule knows.
            while out.count > start, let last = out.last, last == 0x20 || last == 0x09 || last == 0x0A || last == 0x0C || last == 0x0D {
                out.removeLast()
            }
            if out.count > start, let last = out.last, last >= 0x80 {
                let trimmed = String(decoding: out[start...], as: UTF8.self).droppingTrailingWhitespace()
                out.removeSubrange(start...)
                out.append(contentsOf: trimmed.utf8)
            }
            out.append(0x0A)
        }
        let rule = Array(widths.map { String(repeating: "─", count: $0) }.joined(separator: "  ").utf8) + [0x0A]
        line(header, headerWidths)
        out.append(contentsOf: rule)
        for (i, row) in rows.enumerated() {
            if i == separatorBefore { out.append(contentsOf: rule) }
            line(row, cellWidths[i])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A cell's width in characters: its byte count when it is ASCII (most cells: ids, numbers).
    static func width(_ cell: String) -> Int {
        cell.utf8.allSatisfy { $0 < 0x80 } ? cell.utf8.count : cell.count
    }
}

extension String {
    /// Without its trailing white space: what the pattern `\s+$` matches (tab, line feed, form
    /// feed, carriage return and Unicode separators), dropped without a regular expression,
    /// which cost more than the rest of a 100k-line table.
    func droppingTrailingWhitespace() -> String {
        var scalars = unicodeScalars[...]
        while let last = scalars.last, last.isTrailingSpace { scalars = scalars.dropLast() }
        return scalars.count == unicodeScalars.count ? self : String(scalars)
    }
}

private extension Unicode.Scalar {
    var isTrailingSpace: Bool {
        switch value {
        case 0x09, 0x0A, 0x0C, 0x0D: return true
        default:
            switch properties.generalCategory {
            case .spaceSeparator, .lineSeparator, .paragraphSeparator: return true
            default: return false
            }
        }
    }
}
