import Foundation
import WfloCore

/// The user-level egress policy: a YAML file of `allow`, `deny` and `schemes`, in the same
/// form as a workflow's `egress:` block, that every workflow this user runs must also pass.
///
/// It is looked for at `WFLO_EGRESS` when set, else `~/.wflo/egress.yaml`; a missing file at the
/// default place means no user-level policy, a missing file named by `WFLO_EGRESS` is an error.
public enum EgressFile {
    /// The file to read, and whether the user named it explicitly.
    public static func location(environment: [String: String]) -> (path: String, explicit: Bool) {
        if let path = environment["WFLO_EGRESS"], !path.isEmpty { return (path, true) }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return ((home as NSString).appendingPathComponent(".wflo/egress.yaml"), false)
    }

    /// The user-level policy, or nil when there is none.
    /// - Throws: ``WorkflowValidationError`` with `file:line:column` diagnostics when the file is
    ///   not a valid policy, or cannot be read when it was named explicitly.
    public static func load(environment: [String: String]) throws(WorkflowValidationError) -> EgressPolicy? {
        let (path, explicit) = location(environment: environment)
        guard let data = FileManager.default.contents(atPath: path) else {
            if !explicit { return nil }
            throw WorkflowValidationError(diagnostics: [Diagnostic(location: SourceLocation(file: path, line: 1, column: 1),
                                                                   message: "cannot read the egress policy named by WFLO_EGRESS")])
        }
        return try parse(yaml: String(decoding: data, as: UTF8.self), file: path)
    }

    /// Parses a policy's text.
    public static func parse(yaml: String, file: String) throws(WorkflowValidationError) -> EgressPolicy? {
        guard let root = try YAMLValue.compose(yaml, file: file) else { return nil }
        var reader = DefinitionReader(file: file, source: SourceText(yaml), modelCheck: nil)
        let policy = reader.readEgress(root)
        guard let policy, reader.diagnostics.isEmpty else { throw WorkflowValidationError(diagnostics: reader.sortedDiagnostics) }
        return policy
    }
}
