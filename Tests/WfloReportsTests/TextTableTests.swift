import Foundation
import Testing
@testable import WfloReports

@Suite struct TextTableTests {
    /// Lines end at their last visible character: padding and a cell's own trailing white space
    /// (spaces, tabs, line ends, Unicode separators) are dropped, white space inside is kept.
    @Test func linesEndAtTheirLastVisibleCharacter() {
        let table = TextTable(header: ["step", "note", "cost"],
                              rows: [["a", "x  y\t", ""], ["long-step-id", "ok\u{3000}\u{2028}", ""], ["b", "", "1.5"]],
                              rightAligned: [2])
        #expect(table.render(separatorBefore: 2) == """
            step          note   cost
            ────────────  ─────  ────
            a             x  y
            long-step-id  ok
            ────────────  ─────  ────
            b                     1.5

            """)
    }

    /// A row with more cells than the header (a caller's slip) is printed in full, not a crash.
    @Test func aRowWiderThanTheHeaderGetsColumnsOfItsOwn() {
        let table = TextTable(header: ["step"], rows: [["a", "extra"], ["bb"]])
        #expect(table.render(separatorBefore: nil) == """
            step
            ────  ─────
            a     extra
            bb

            """)
    }

    /// The table written as bytes is the table written cell by cell as strings (the rule as it
    /// was stated before): random cells of ASCII, accents, wide characters, emoji, tabs, trailing
    /// spaces and Unicode separators, right-aligned columns, totals rules and ragged rows.
    @Test func bytesGiveWhatStringsGave() {
        var generator = SystemRandomNumberGenerator()
        let pieces = ["a", "step-1", "0.000000", " ", "  ", "\t", "é", "日本", "👩‍💻", "\u{3000}", "\u{2028}", "\u{A0}", "x y", "-", ""]
        for _ in 0..<400 {
            let columns = Int.random(in: 1...5, using: &generator)
            let header = (0..<columns).map { _ in pieces.randomElement(using: &generator)! + "h" }
            let rows = (0..<Int.random(in: 0...6, using: &generator)).map { _ in
                (0..<Int.random(in: 1...(columns + 1), using: &generator)).map { _ in
                    (0..<Int.random(in: 0...3, using: &generator)).map { _ in pieces.randomElement(using: &generator)! }.joined()
                }
            }
            let right = Set((0..<columns).filter { _ in Bool.random(using: &generator) })
            let separator = rows.isEmpty ? nil : Int.random(in: 0..<rows.count, using: &generator)
            let table = TextTable(header: header, rows: rows, rightAligned: right)
            #expect(table.render(separatorBefore: separator) == Self.reference(table, separatorBefore: separator), "\(header) \(rows)")
        }
    }

    /// The rendering as it was written with strings: widths in characters, padded cells, each line
    /// without its trailing white space.
    static func reference(_ table: TextTable, separatorBefore: Int?) -> String {
        let headerWidths = table.header.map(\.count)
        let cellWidths = table.rows.map { $0.map(\.count) }
        var widths = headerWidths + Array(repeating: 0, count: max(0, (cellWidths.map(\.count).max() ?? 0) - headerWidths.count))
        for row in cellWidths { for (i, width) in row.enumerated() { widths[i] = max(widths[i], width) } }
        func line(_ cells: [String], _ cellWidths: [Int]) -> String {
            var text = ""
            for (i, cell) in cells.enumerated() {
                if i > 0 { text += "  " }
                let pad = String(repeating: " ", count: max(0, widths[i] - cellWidths[i]))
                text += table.rightAligned.contains(i) ? pad + cell : cell + pad
            }
            return text.droppingTrailingWhitespace()
        }
        let rule = widths.map { String(repeating: "─", count: $0) }.joined(separator: "  ")
        var out = line(table.header, headerWidths) + "\n" + rule + "\n"
        for (i, row) in table.rows.enumerated() {
            if i == separatorBefore { out += rule + "\n" }
            out += line(row, cellWidths[i]) + "\n"
        }
        return out
    }
}
