import Synchronization
import WfloCore

/// The workflows parsed from runs' journaled sources, by those sources, with one service's
/// pricing table: a worker drives hundreds of runs of one workflow file, and parsed and checked
/// its YAML again for each. A definition is kept only when its parse read nothing but what the
/// key holds: every sub-workflow came from the journaled sources, none from the disk (whose file
/// may change between two runs).
public final class JournaledWorkflows: Sendable {
    struct Key: Hashable {
        var source: String
        var path: String
        var children: [String: String]
    }

    /// How many definitions are kept; past it the oldest half goes.
    static let capacity = 32
    private let kept = Mutex<(definitions: [Key: WorkflowDefinition], order: [Key])>(([:], []))

    public init() {}

    /// How many definitions are kept now.
    var count: Int { kept.withLock { $0.definitions.count } }

    /// The definition parsed from `source` (the file at `path`) with the journaled sub-workflow
    /// sources `children`: a kept one, or `parse`'s, kept when it read no file.
    func definition(source: String, path: String, children: [String: String],
                    parse: () throws -> WorkflowDefinition) throws -> WorkflowDefinition {
        let key = Key(source: source, path: path, children: children)
        if let known = kept.withLock({ $0.definitions[key] }) { return known }
        let definition = try parse()
        let read = definition.subWorkflowSources
        guard read.allSatisfy({ children[$0.key] == $0.value }) else { return definition }
        kept.withLock { kept in
            guard kept.definitions[key] == nil else { return }
            if kept.order.count >= Self.capacity {
                for old in kept.order.prefix(Self.capacity / 2) { kept.definitions[old] = nil }
                kept.order.removeFirst(Self.capacity / 2)
            }
            kept.definitions[key] = definition
            kept.order.append(key)
        }
        return definition
    }
}
