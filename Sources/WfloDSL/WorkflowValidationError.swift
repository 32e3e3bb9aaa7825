import WfloCore

/// A workflow that cannot run, with every problem found in it (not only the first), ordered by
/// their place in the file.
public struct WorkflowValidationError: Error, Sendable, CustomStringConvertible {
    /// At least one diagnostic, in file order.
    public var diagnostics: [Diagnostic]

    public init(diagnostics: [Diagnostic]) {
        self.diagnostics = diagnostics
    }

    /// One diagnostic a line, each `file:line:column: error: message`.
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}
