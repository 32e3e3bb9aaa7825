/// Where a run's workflow came from, read from the run's journaled `workflowPath`: a file (YAML,
/// re-parsed from the journaled source on resume) or a ``Workflow`` built in Swift (`swift:NAME`),
/// which only the program that defines it can resume.
public enum WorkflowOrigin: Sendable, Hashable {
    case file(path: String)
    case swift(name: String)
    /// A durable function (WfloKit's `DurableWorkflow`) run by the program `program`: only that
    /// program can continue it, by running again with the same run id.
    case durable(name: String, program: String)

    private static let swiftPrefix = "swift:"
    private static let durablePrefix = "swift-durable:"
    private static let programMark = " @ "

    /// Reads a journaled `workflowPath`.
    public init(journaledPath path: String) {
        if path.hasPrefix(Self.durablePrefix) {
            let rest = String(path.dropFirst(Self.durablePrefix.count))
            if let mark = rest.range(of: Self.programMark, options: .backwards) {
                self = .durable(name: String(rest[..<mark.lowerBound]), program: String(rest[mark.upperBound...]))
            } else {
                self = .durable(name: rest, program: "")
            }
        } else if path.hasPrefix(Self.swiftPrefix) {
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
        case .durable(let name, let program): Self.durablePrefix + name + Self.programMark + program
        }
    }
}
