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
        var widths = header.map(\.count)
        for row in rows {
            for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: max(0, widths[i] - cell.count))
                return rightAligned.contains(i) ? pad + cell : cell + pad
            }.joined(separator: "  ").droppingTrailingWhitespace()
        }
        let rule = widths.map { String(repeating: "─", count: $0) }.joined(separator: "  ")
        var out = line(header) + "\n" + rule + "\n"
        for (i, row) in rows.enumerated() {
            if i == separatorBefore { out += rule + "\n" }
            out += line(row) + "\n"
        }
        return out
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
