import Foundation

/// `for_each:` on a step: the step runs once per item of an array, each item journaled, charged
/// and resumed on its own (as step `ID[INDEX]`); the step's output is
/// `{items, count, succeeded, failed, errors}`.
public struct ForEachSettings: Sendable, Hashable, Codable {
    /// Renders to the array to iterate over.
    public var items: Template
    /// `{{for_each.NAME}}` is the current item (default `item`); `{{for_each.index}}` its position.
    public var itemVar: String
    /// Items in flight at once (default 4).
    public var maxParallel: Int
    /// Stop starting items once one fails (default true); false runs every item and counts failures.
    public var failFast: Bool

    public static let defaultMaxParallel = 4
    /// Most items one for_each may have: an array from a model or a page cannot start an unbounded run.
    /// Measured (ScaleBenchmark, README's Benchmarks): 100,000 transform items run in one step.
    public static let maximumItems = 100_000

    /// Why `count` items are too many for one for_each, or nil when they fit: the one rule that
    /// `wflo validate` (an input's default that feeds for_each) and the run (the rendered items) apply.
    public static func itemCountProblem(_ count: Int) -> String? {
        count > maximumItems ? "for_each has \(count) items; at most \(maximumItems) are allowed in one step (split the list)" : nil
    }

    /// The input whose value is the items when `items` is exactly `{{inputs.NAME}}`, else nil.
    public var itemsInput: String? {
        guard items.segments.count == 1, case .reference(let path, _) = items.segments[0], path.count == 2, path[0] == "inputs" else { return nil }
        return path[1]
    }

    public init(items: Template, itemVar: String = "item", maxParallel: Int = ForEachSettings.defaultMaxParallel, failFast: Bool = true) {
        self.items = items
        self.itemVar = itemVar
        self.maxParallel = maxParallel
        self.failFast = failFast
    }

    /// The journal id of item `index` of step `stepID`.
    public static func itemID(_ stepID: String, _ index: Int) -> String { "\(stepID)[\(index)]" }
}

/// Reading the journal ids that ``ForEachSettings/itemID(_:_:)`` and
/// ``SubWorkflowStepDefinition/childID(_:_:)`` build: `batch[2]/pages[0]/read` is item 0 of
/// step `pages` of the sub-workflow run by item 2 of step `batch`.
public enum NestedStepID {
    /// The ids it is nested under, nearest last: `a[2]/b` → `a`, `a[2]`.
    public static func ancestors(of id: String) -> [String] {
        // Most ids are top-level, without ancestors (a report asks for each of a run's steps).
        guard !isTopLevel(id) else { return [] }
        var result: [String] = []
        var prefix = ""
        for character in id {
            if (character == "[" || character == "/") && !prefix.isEmpty { result.append(prefix) }
            prefix.append(character)
        }
        return result
    }

    /// Whether `id` names a step of the run's own workflow: no `[` (an item) or `/` (a nested step) byte in it.
    static func isTopLevel(_ id: String) -> Bool {
        !id.utf8.contains { $0 == UInt8(ascii: "[") || $0 == UInt8(ascii: "/") }
    }

    /// The top-level step it belongs to: `a[2]/b` → `a`.
    public static func root(of id: String) -> String {
        // A top-level id is its own root, without walking its characters.
        guard !isTopLevel(id) else { return id }
        return String(id.prefix { $0 != "[" && $0 != "/" })
    }

    /// The id as the workflow file writes the step, items not numbered: `a[2]/b[14]` → `a[]/b[]`.
    public static func asWritten(_ id: String) -> String {
        guard id.contains("[") else { return id }
        var out = ""
        var inIndex = false
        for character in id {
            if inIndex && character.isNumber { continue }
            inIndex = character == "["
            out.append(character)
        }
        return out
    }

    /// A key that orders ids for reading: items by number (`x[2]` before `x[10]`), each item's
    /// nested steps after it.
    public static func sortKey(_ id: String) -> [String] {
        id.split(omittingEmptySubsequences: false) { $0 == "[" || $0 == "]" || $0 == "/" }.map { part in
            Int(part).map { String(repeating: "0", count: max(0, 9 - String($0).count)) + String($0) } ?? String(part)
        }
    }
}

/// A `switch` step: routes on a value to the steps of one case; the steps of the other cases
/// are skipped. Its output is `{value, case, chosen}`.
public struct SwitchStepDefinition: Sendable, Hashable, Codable {
    public struct Case: Sendable, Hashable, Codable {
        /// Matched against the value's text (`bug`, `3`, `true`).
        public var match: String
        /// Ids of the steps this case runs.
        public var steps: [String]
        public init(match: String, steps: [String]) {
            self.match = match
            self.steps = steps
        }
    }

    public var value: Template
    public var cases: [Case]
    /// Steps run when no case matches; nil makes an unmatched value fail the step.
    public var defaultSteps: [String]?

    public init(value: Template, cases: [Case], defaultSteps: [String]? = nil) {
        self.value = value
        self.cases = cases
        self.defaultSteps = defaultSteps
    }

    /// Every step some case (or the default) routes to, in order, without repeats.
    public var targets: [String] {
        var seen: [String] = []
        for id in cases.flatMap(\.steps) + (defaultSteps ?? []) where !seen.contains(id) { seen.append(id) }
        return seen
    }

    /// The case a value selects: its label (`default` for the default) and steps; nil when none matches and there is no default.
    public func choose(_ value: JSONValue) -> (label: String, steps: [String])? {
        let text = value.interpolated
        if let match = cases.first(where: { $0.match == text }) { return (match.match, match.steps) }
        if let defaultSteps { return ("default", defaultSteps) }
        return nil
    }
}

/// A `sleep` step: waits durably. The wake-up time is journaled when the sleep starts, so a
/// run resumed after it continues at once and one resumed before waits only the rest.
public struct SleepStepDefinition: Sendable, Hashable, Codable {
    /// Seconds to wait (`duration: 10m`).
    public var seconds: Double?
    /// Or a time to wait for (`until:`, ISO 8601), rendered when the sleep starts.
    public var until: Template?

    public init(seconds: Double? = nil, until: Template? = nil) {
        self.seconds = seconds
        self.until = until
    }
}

/// A `workflow` step: runs another workflow file as part of this run. Its steps are journaled
/// as `ID/CHILD`, charged to this run's budget (and to the step's own `budget:` when smaller),
/// and resumed with the run. Its output is the child's `outputs:`.
public struct SubWorkflowStepDefinition: Sendable, Hashable, Codable {
    /// The path as written (relative to the parent file's folder).
    public var path: String
    /// The file read, resolved (absolute, links followed): the key its text is journaled under.
    public var resolvedPath: String
    /// The file's text as read; journaled when the run starts so a resume uses the same child.
    public var source: String
    /// The child as parsed when the parent was.
    public var definition: WorkflowDefinition
    /// Values for the child's inputs.
    public var inputs: TemplateValue
    /// A spending limit for the child's steps, within the run's budget.
    public var budget: Money?

    /// How deep workflows may call workflows (the top workflow is depth 0).
    public static let maximumDepth = 8

    public init(path: String, resolvedPath: String, source: String, definition: WorkflowDefinition,
                inputs: TemplateValue = .object([:]), budget: Money? = nil) {
        self.path = path
        self.resolvedPath = resolvedPath
        self.source = source
        self.definition = definition
        self.inputs = inputs
        self.budget = budget
    }

    /// The journal id of step `childID` of the sub-workflow run by step `stepID`.
    public static func childID(_ stepID: String, _ childID: String) -> String { "\(stepID)/\(childID)" }
}

extension WorkflowDefinition {
    /// Every sub-workflow's text by resolved path, at any depth: what a run journals at its start.
    public var subWorkflowSources: [String: String] {
        var sources: [String: String] = [:]
        for step in steps {
            guard case .workflow(let w) = step.kind else { continue }
            sources[w.resolvedPath] = w.source
            sources.merge(w.definition.subWorkflowSources) { first, _ in first }
        }
        return sources
    }
}
