/// Where a run's workflow came from, read from the run's journaled `workflowPath`: a file (YAML,
/// re-parsed from the journaled source on resume) or a ``Workflow`` built in Swift (`swift:NAME`),
/// which only the program that defines it can resume.
public enum WorkflowOrigin: Sendable, Hashable {
    case file(path: String)
    case swift(name: String)

    private static let swiftPrefix = "swift:"

    /// Reads a journaled `workflowPath`.
    public init(journaledPath path: String) {
        if path.hasPrefix(Self.swiftPrefix) {
            self = .swift(name: String(path.dropFirst(Self.swiftPrefix.count)))
        } else {
            self = .file(path: path)
        }
    }

    /// The text journaled as the run's `workflowPath`.
    public var journaledPath: String {
        switch self {
        case .file(let path): path
        case .swift(let name): Self.swiftPrefix + name
        }
    }
}
