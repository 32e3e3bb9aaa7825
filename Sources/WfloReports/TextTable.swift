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
        let headerWidths = header.map(\.count)
        let cellWidths = rows.map { $0.map(\.count) }
        // A row may have more cells than the header: its extra columns get widths of their own.
        var widths = headerWidths + Array(repeating: 0, count: max(0, (cellWidths.map(\.count).max() ?? 0) - headerWidths.count))
        for row in cellWidths {
            for (i, width) in row.enumerated() { widths[i] = max(widths[i], width) }
        }
        func line(_ cells: [String], _ cellWidths: [Int]) -> String {
            var text = ""
            for (i, cell) in cells.enumerated() {
                if i > 0 { text += "  " }
                let pad = String(repeating: " ", count: max(0, widths[i] - cellWidths[i]))
                if rightAligned.contains(i) { text += pad + cell } else { text += cell + pad }
            }
            return text.droppingTrailingWhitespace()
        }
        let rule = widths.map { String(repeating: "─", count: $0) }.joined(separator: "  ")
        var out = line(header, headerWidths) + "\n" + rule + "\n"
        for (i, row) in rows.enumerated() {
            if i == separatorBefore { out += rule + "\n" }
            out += line(row, cellWidths[i]) + "\n"
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
