import Testing
import WfloReports

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
}
