/// Steps and the steps each waits for; finds the cycles that would make a run wait forever.
/// The one cycle rule for workflows read from YAML and built in Swift.
public struct DependencyGraph: Sendable {
    /// Step ids in file order.
    public let ids: [String]
    /// For each id, the ids it waits for (self edges excluded; unknown ids excluded).
    public let edges: [String: [String]]

    public init(ids: [String], edges: [String: [String]]) {
        self.ids = ids
        self.edges = edges
    }

    /// The graph of a definition's steps: each waits for its `depends_on`, the steps its
    /// templates reference and the switch that routes to it (``WorkflowDefinition/dependencies(of:routes:)``).
    public init(_ definition: WorkflowDefinition) {
        let known = Set(definition.steps.map(\.id))
        let routes = definition.routes
        var edges: [String: [String]] = [:]
        for step in definition.steps {
            edges[step.id] = WorkflowDefinition.dependencies(of: step, routes: routes).filter { $0 != step.id && known.contains($0) }
        }
        self.init(ids: definition.steps.map(\.id), edges: edges)
    }

    /// One cycle per strongly connected group of steps, each as a path in run order that starts
    /// and ends with the group's first step in file order (`a → b → a`: b waits for a, a for b).
    public func cycles() -> [[String]] {
        // Groups come as positions in file order, so a group's first step is its smallest.
        let firsts = stronglyConnectedGroups()
            .map { group in (first: group.min()!, members: Set(group.map { ids[$0] })) }
            .sorted { $0.first < $1.first }
        return firsts.compactMap { shortestCycle(through: ids[$0.first], within: $0.members).map { Array($0.reversed()) } }
    }

    /// Breadth-first along "waits for" edges from `start` back to it, staying in `group`;
    /// the path in edge order (`start` waits for the second, … the last waits for `start`).
    private func shortestCycle(through start: String, within group: Set<String>) -> [String]? {
        var previous: [String: String] = [:]
        var queue = [start]
        var head = 0
        while head < queue.count {
            let node = queue[head]
            head += 1
            for next in edges[node] ?? [] where group.contains(next) {
                if next == start {
                    var chain = [node]
                    var cursor = node
                    while cursor != start {
                        cursor = previous[cursor]!
                        chain.append(cursor)
                    }
                    return chain.reversed() + [start]
                }
                if previous[next] == nil {
                    previous[next] = node
                    queue.append(next)
                }
            }
        }
        return nil
    }

    /// Tarjan's algorithm, iterative so a long chain of steps cannot overflow the stack, over
    /// the steps' positions rather than their ids (one lookup per edge, arrays instead of four
    /// dictionaries: a 100,000-step chain's check was 28 MB of them). Only groups of two or more
    /// steps, the cycles, come back, as the positions of their steps (a repeated id: its first).
    private func stronglyConnectedGroups() -> [[Int]] {
        var position: [String: Int] = Dictionary(minimumCapacity: ids.count)
        for (offset, id) in ids.enumerated() where position[id] == nil { position[id] = offset }
        let neighbours: [[Int]] = ids.map { id in (edges[id] ?? []).compactMap { position[$0] } }
        let unvisited = -1
        var index = [Int](repeating: unvisited, count: ids.count)
        var lowlink = [Int](repeating: 0, count: ids.count)
        var onStack = [Bool](repeating: false, count: ids.count)
        var stack: [Int] = []
        var groups: [[Int]] = []
        var counter = 0

        for root in ids.indices where index[root] == unvisited && position[ids[root]] == root {
            // Each frame: a node and the position of the next edge to follow.
            var frames: [(node: Int, next: Int)] = [(root, 0)]
            index[root] = counter; lowlink[root] = counter; counter += 1
            stack.append(root); onStack[root] = true
            while let frame = frames.last {
                let out = neighbours[frame.node]
                if frame.next < out.count {
                    frames[frames.count - 1].next += 1
                    let w = out[frame.next]
                    if index[w] == unvisited {
                        index[w] = counter; lowlink[w] = counter; counter += 1
                        stack.append(w); onStack[w] = true
                        frames.append((w, 0))
                    } else if onStack[w] {
                        lowlink[frame.node] = min(lowlink[frame.node], index[w])
                    }
                } else {
                    frames.removeLast()
                    if let parent = frames.last {
                        lowlink[parent.node] = min(lowlink[parent.node], lowlink[frame.node])
                    }
                    if lowlink[frame.node] == index[frame.node] {
                        var group: [Int] = []
                        while let w = stack.popLast() {
                            onStack[w] = false
                            group.append(w)
                            if w == frame.node { break }
                        }
                        if group.count > 1 { groups.append(group) }
                    }
                }
            }
        }
        return groups
    }
}
