/// Steps and the steps each waits for; finds the cycles that would make a run wait forever.
/// The one cycle rule for workflows read from YAML and built in Swift.
///
/// Steps are known by their position; what each waits for is kept as one flat list of
/// positions with where each step's part starts (a 100,000-step chain's graph is two arrays of
/// integers, where a map of id lists was 17 MB of `wflo validate`'s peak).
public struct DependencyGraph: Sendable {
    /// Step ids in file order.
    public let ids: [String]
    /// Where the positions step `i` waits for start in `targets`; `starts[i + 1]` is where they end.
    private let starts: [Int]
    private let targets: [Int]

    /// `waitsFor(i)`: the positions step `i` waits for (itself and positions out of range are left out).
    public init(ids: [String], waitsFor: (Int) -> [Int]) {
        self.ids = ids
        var starts = [Int]()
        starts.reserveCapacity(ids.count + 1)
        var targets = [Int]()
        targets.reserveCapacity(ids.count)
        for position in ids.indices {
            starts.append(targets.count)
            targets += waitsFor(position).lazy.filter { $0 != position && ids.indices.contains($0) }
        }
        starts.append(targets.count)
        self.starts = starts
        self.targets = targets
    }

    /// The graph of a definition's steps: each waits for its `depends_on`, the steps its
    /// templates reference and the switch that routes to it (``WorkflowDefinition/dependencies(of:routes:)``).
    /// Ids are unique by then (a repeated one is reported first); a reference names the first.
    public init(_ definition: WorkflowDefinition) {
        var position: [String: Int] = Dictionary(minimumCapacity: definition.steps.count)
        for (offset, step) in definition.steps.enumerated() where position[step.id] == nil { position[step.id] = offset }
        let routes = definition.routes
        self.init(ids: definition.steps.map(\.id)) { offset in
            WorkflowDefinition.dependencies(of: definition.steps[offset], routes: routes).compactMap { position[$0] }
        }
    }

    private func waitsFor(_ position: Int) -> ArraySlice<Int> { targets[starts[position]..<starts[position + 1]] }

    /// One cycle per strongly connected group of steps, each as a path in run order that starts
    /// and ends with the group's first step in file order (`a → b → a`: b waits for a, a for b).
    public func cycles() -> [[String]] {
        // Steps that each wait only for steps before them (most workflows, written in run
        // order) cannot wait for themselves: no search, and none of its memory.
        guard !ids.indices.allSatisfy({ position in waitsFor(position).allSatisfy { $0 < position } }) else { return [] }
        // Groups come as positions in file order, so a group's first step is its smallest.
        let firsts = stronglyConnectedGroups()
            .map { group in (first: group.min()!, members: Set(group)) }
            .sorted { $0.first < $1.first }
        return firsts.compactMap { group in
            shortestCycle(through: group.first, within: group.members).map { $0.reversed().map { ids[$0] } }
        }
    }

    /// Breadth-first along "waits for" edges from `start` back to it, staying in `group`;
    /// the path in edge order (`start` waits for the second, … the last waits for `start`).
    private func shortestCycle(through start: Int, within group: Set<Int>) -> [Int]? {
        var previous: [Int: Int] = [:]
        var queue = [start]
        var head = 0
        while head < queue.count {
            let node = queue[head]
            head += 1
            for next in waitsFor(node) where group.contains(next) {
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

    /// Tarjan's algorithm, iterative so a long chain of steps cannot overflow the stack. Only
    /// groups of two or more steps, the cycles, come back, as their steps' positions.
    private func stronglyConnectedGroups() -> [[Int]] {
        let unvisited = -1
        var index = [Int](repeating: unvisited, count: ids.count)
        var lowlink = [Int](repeating: 0, count: ids.count)
        var onStack = [Bool](repeating: false, count: ids.count)
        var stack: [Int] = []
        var groups: [[Int]] = []
        var counter = 0

        for root in ids.indices where index[root] == unvisited {
            // Each frame: a node and the position in `targets` of the next edge to follow.
            var frames: [(node: Int, next: Int)] = [(root, starts[root])]
            index[root] = counter; lowlink[root] = counter; counter += 1
            stack.append(root); onStack[root] = true
            while let frame = frames.last {
                if frame.next < starts[frame.node + 1] {
                    frames[frames.count - 1].next += 1
                    let w = targets[frame.next]
                    if index[w] == unvisited {
                        index[w] = counter; lowlink[w] = counter; counter += 1
                        stack.append(w); onStack[w] = true
                        frames.append((w, starts[w]))
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
