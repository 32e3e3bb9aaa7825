import Foundation
import WfloCore

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
        let text = try WorkflowParser.readText(fileAt: path)
        return (try parse(yaml: text, file: path), text)
    }

    /// "; did you mean 'x'?" for the candidate closest to `word` (a typo's reach), or "".
    public static func didYouMean(_ word: String, in candidates: some Sequence<String>) -> String {
        Suggestion.phrase(for: word, in: candidates)
    }

    /// Reads a workflow file's text, saying in the user's words what is wrong: no such file, a
    /// folder, not readable, or not UTF-8 (at the line and column of the first bad byte).
    /// - Throws: ``WorkflowValidationError`` with one diagnostic naming `path`.
    public static func readText(fileAt path: String) throws(WorkflowValidationError) -> String {
        func failure(_ message: String, line: Int = 1, column: Int = 1) -> WorkflowValidationError {
            WorkflowValidationError(diagnostics: [Diagnostic(location: SourceLocation(file: path, line: line, column: column), message: message)])
        }
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw failure("no such workflow file")
        }
        if isFolder.boolValue {
            throw failure("this is a folder, not a workflow file; give the YAML file itself (e.g. \((path as NSString).appendingPathComponent("workflow.yaml")))")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw failure("cannot read the workflow file: permission denied")
        }
        let bytes = [UInt8](data)
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        // Where the first byte that is not UTF-8 is, for the editor.
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0
        while case .valid(let scalar) = parser.parseScalar(from: &iterator) { offset += scalar.count }
        let before = bytes[..<offset]
        let line = before.count { $0 == UInt8(ascii: "\n") } + 1
        let lineStart = before.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
        let column = String(decoding: bytes[lineStart..<offset], as: UTF8.self).count + 1
        let byte = offset < bytes.count ? String(format: "0x%02X", bytes[offset]) : "the end"
        throw failure("the workflow file is not UTF-8 text (byte \(byte) here is not valid UTF-8); save it as UTF-8", line: line, column: column)
    }

    /// Parses and validates workflow YAML.
    ///
    /// - Parameters:
    ///   - yaml: the workflow's text.
    ///   - file: the name diagnostics give the text.
    /// - Throws: ``WorkflowValidationError`` holding every problem found, in file order. A YAML
    ///   syntax error stops reading, so it comes alone, at its line and column.
    public func parse(yaml: String, file: String) throws(WorkflowValidationError) -> WorkflowDefinition {
        var reader = DefinitionReader(file: file, source: SourceText(yaml), modelCheck: modelCheck, children: sources)
        // Each step is read as soon as it is composed, and its tree dropped (see StepsReading);
        // not in a text with aliases (`*name`), whose expansion is checked on the whole tree.
        let streams = !YAMLValue.mayHaveAliases(yaml)
        if streams { reader.steps = DefinitionReader.StepsReading(defersModelChecks: true) }
        let composed = try YAMLValue.compose(yaml, file: file, step: streams ? { reader.readStepItem($0) } : nil)
        guard let root = composed else {
            throw WorkflowValidationError(diagnostics: [Diagnostic(
                location: SourceLocation(file: file, line: 1, column: 1),
                message: "the file is empty: a workflow needs at least 'name' and 'steps'")])
        }
        let definition = reader.read(root)
        guard let definition, reader.diagnostics.isEmpty else {
            throw WorkflowValidationError(diagnostics: reader.sortedDiagnostics)
        }
        return definition
    }
}
