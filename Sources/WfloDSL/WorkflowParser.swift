import Foundation
import WfloCore
import Yams

/// Reads a workflow file into a ``WorkflowDefinition``, checking everything that can be checked
/// before a run: fields and their types, step ids, dependencies and cycles, every template
/// reference, and (through `modelCheck`) that every model is priced.
///
/// Every problem is reported with `file:line:column`, and all of them at once, not only the
/// first. A definition that comes back is valid: its steps have unique ids, every dependency
/// names an existing step, the dependency graph has no cycle, and every `{{…}}` names a declared
/// input, an upstream step's output, or a secret.
///
/// ```swift
/// let parser = WorkflowParser(modelCheck: { model in table.contains(model) ? nil : "model '\(model)' is not priced" })
/// let definition = try parser.parse(yaml: text, file: "brief.yaml")
/// ```
public struct WorkflowParser: Sendable {
    private let modelCheck: (@Sendable (String) -> String?)?
    private let sources: WorkflowSources

    /// - Parameter modelCheck: returns nil when a model is priced, or the message to show
    ///   (for example "model 'x' is not in the pricing table; add it with --pricing FILE").
    ///   The DSL cannot see the pricing module, so the caller decides. Nil checks nothing.
    ///   Models the workflow prices itself in its `pricing:` block are not passed to it (the
    ///   pricing module checks those entries when it layers the block on its table).
    /// - Parameter sources: where `workflow:` steps read their files (the disk, or on resume the texts the run journaled).
    public init(modelCheck: (@Sendable (String) -> String?)? = nil, sources: WorkflowSources = WorkflowSources()) {
        self.modelCheck = modelCheck
        self.sources = sources
    }

    /// Reads and validates the file at `path`.
    ///
    /// - Returns: the definition and the text read (the journal keeps the text).
    /// - Throws: ``WorkflowValidationError`` when the file cannot be read or is not a valid
    ///   workflow; diagnostics name `path`.
    public func parse(fileAt path: String) throws(WorkflowValidationError) -> (WorkflowDefinition, source: String) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw WorkflowValidationError(diagnostics: [Diagnostic(
                location: SourceLocation(file: path, line: 1, column: 1),
                message: "cannot read the workflow file: check that it exists and is readable")])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw WorkflowValidationError(diagnostics: [Diagnostic(
                location: SourceLocation(file: path, line: 1, column: 1),
                message: "the workflow file is not UTF-8 text")])
        }
        return (try parse(yaml: text, file: path), text)
    }

    /// Parses and validates workflow YAML.
    ///
    /// - Parameters:
    ///   - yaml: the workflow's text.
    ///   - file: the name diagnostics give the text.
    /// - Throws: ``WorkflowValidationError`` holding every problem found, in file order. A YAML
    ///   syntax error stops reading, so it comes alone, at its line and column.
    public func parse(yaml: String, file: String) throws(WorkflowValidationError) -> WorkflowDefinition {
        guard let root = try YAMLValue.compose(yaml, file: file) else {
            throw WorkflowValidationError(diagnostics: [Diagnostic(
                location: SourceLocation(file: file, line: 1, column: 1),
                message: "the file is empty: a workflow needs at least 'name' and 'steps'")])
        }
        var reader = DefinitionReader(file: file, source: SourceText(yaml), modelCheck: modelCheck, children: sources)
        let definition = reader.read(root)
        guard let definition, reader.diagnostics.isEmpty else {
            throw WorkflowValidationError(diagnostics: reader.sortedDiagnostics)
        }
        return definition
    }
}
