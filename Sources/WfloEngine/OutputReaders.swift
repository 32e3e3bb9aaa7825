/// Which finished steps' outputs a workflow still needs. An output is read by each step that
/// waits for it, when that step starts (into its scope), and by the workflow's `outputs:` at the
/// end; once the last step to read it has started and `outputs:` do not name it, it can be let
/// go (it stays in the journal). A 100,000-step chain held every output to the end: 38 MB.
struct OutputReaders {
    /// By position: how many steps still to start read that step's output.
    private var remaining: [Int]
    /// By position: kept to the end (named by the workflow's `outputs:`); nil keeps every output.
    private let kept: [Bool]?

    /// `keeping`: the positions whose outputs the workflow returns, nil for all of them.
    init(count: Int, keeping: Set<Int>?) {
        remaining = [Int](repeating: 0, count: count)
        kept = keeping.map { keeping in (0..<count).map { keeping.contains($0) } }
    }

    /// A step still to start will read the output at `position`.
    mutating func willRead(_ position: Int) {
        remaining[position] += 1
    }

    /// A step that has started read the outputs at `positions` (what it waits for); returns those
    /// of them no step still to start reads and the workflow does not return.
    mutating func haveRead(_ positions: [Int]) -> [Int] {
        guard let kept else { return [] }
        var unread: [Int] = []
        for position in positions {
            remaining[position] -= 1
            if remaining[position] == 0, !kept[position] { unread.append(position) }
        }
        return unread
    }
}
