import Foundation
import Testing
import WfloCore
@testable import WfloDSL

/// Parses `yaml` and returns its diagnostics (empty when it is valid).
func diagnostics(_ yaml: String, file: String = "w.yaml", modelCheck: (@Sendable (String) -> String?)? = nil) -> [Diagnostic] {
    do {
        _ = try WorkflowParser(modelCheck: modelCheck).parse(yaml: yaml, file: file)
        return []
    } catch {
        return error.diagnostics
    }
}

/// The repository's root folder, found from this file's place in it.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

func template(_ text: String) -> Template {
    // Test-only: the texts passed here are valid templates.
    try! Template(text)
}
