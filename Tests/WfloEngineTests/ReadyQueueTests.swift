import Testing
@testable import WfloEngine

/// The scheduler's ready list: file order out, whatever order steps become ready in, at a cost per
/// step that grows with log n (counted in comparisons, not timed).
struct ReadyQueueTests {
    /// Pushes `n` positions in the worst order for a sorted array (each one before all the others)
    /// and takes them all; returns the order they came out in and the comparisons made.
    func drain(_ n: Int) -> (order: [Int], comparisons: Int) {
        var queue = ReadyQueue<Int>()
        for position in stride(from: n - 1, through: 0, by: -1) { queue.push(position, position: position) }
        var order: [Int] = []
        while let next = queue.popFirst() { order.append(next) }
        return (order, queue.comparisons)
    }

    @Test func takesStepsInFileOrderWhateverOrderTheyBecameReady() {
        var queue = ReadyQueue<String>()
        for (position, id) in [(4, "e"), (0, "a"), (3, "d"), (1, "b")] { queue.push(id, position: position) }
        #expect(queue.popFirst() == "a")
        queue.push("c", position: 2)
        var rest: [String] = []
        while let next = queue.popFirst() { rest.append(next) }
        #expect(rest == ["b", "c", "d", "e"])
        #expect(queue.isEmpty && queue.popFirst() == nil)
    }

    @Test(arguments: [1_000, 30_000])
    func costPerStepGrowsWithTheLogarithmOfTheReadySteps(n: Int) {
        let (order, comparisons) = drain(n)
        #expect(order == Array(0..<n))
        // A heap makes at most log2(n) comparisons per push and 2·log2(n) per take; a sorted array
        // with a linear insert made n(n-1)/2 over the same pushes (450 million at 30k).
        let log2n = Int.bitWidth - n.leadingZeroBitCount
        #expect(comparisons <= 3 * n * log2n, "\(comparisons) comparisons for \(n) steps")
    }
}
