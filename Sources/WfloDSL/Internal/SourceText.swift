
/// The workflow's text by line, to point a diagnostic at the `{{` of a template reference
/// rather than at the start of the scalar holding it.
///
/// The lines are split the first time a diagnostic needs one: a valid file never pays for it.
final class SourceText {
    private let text: String
    private var splitLines: [[Unicode.Scalar]]?

    init(_ text: String) {
        self.text = text
    }

    private var lines: [[Unicode.Scalar]] {
        if let splitLines { return splitLines }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { Array($0.unicodeScalars) }
        splitLines = lines
        return lines
    }

    /// The line and column (1-based, counted in Unicode scalars as Yams counts them) of the
    /// character `offset` characters into `scalar`'s text, when the scalar is written on one
    /// line exactly as it reads (plain, or quoted without escapes before that point).
    /// Nil when that cannot be told; callers then use the scalar's own position.
    func position(in scalar: Node.Scalar, offset: Int) -> (line: Int, column: Int)? {
        guard let mark = scalar.mark, lines.indices.contains(mark.line - 1) else { return nil }
        let start: Int
        switch scalar.style {
        case .plain: start = mark.column - 1
        case .singleQuoted, .doubleQuoted: start = mark.column
        default: return nil
        }
        let text = scalar.string
        guard offset <= text.count else { return nil }
        let prefix = Array(text.prefix(offset).unicodeScalars)
        guard !prefix.contains("\n") else { return nil }
        let line = lines[mark.line - 1]
        guard start >= 0, start + prefix.count <= line.count,
              Array(line[start..<(start + prefix.count)]) == prefix else { return nil }
        return (mark.line, start + prefix.count + 1)
    }
}
