/// The steps ready to start, taken in file order: a binary min-heap on each step's position, so
/// adding or taking a step costs O(log n) however many are ready (a sorted array paid a linear
/// insert and a linear `removeFirst()` per step: quadratic over 30k independent steps).
struct ReadyQueue<Element> {
    private var heap: [(position: Int, element: Element)] = []
    /// Comparisons between positions made so far; tests read it to prove the cost per step is logarithmic.
    private(set) var comparisons = 0

    var isEmpty: Bool { heap.isEmpty }
    var count: Int { heap.count }

    mutating func push(_ element: Element, position: Int) {
        heap.append((position, element))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            comparisons += 1
            guard heap[child].position < heap[parent].position else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    /// The element with the lowest position, removed; nil when empty.
    mutating func popFirst() -> Element? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let first = heap.removeLast().element
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < heap.count {
                comparisons += 1
                if heap[left].position < heap[smallest].position { smallest = left }
            }
            if right < heap.count {
                comparisons += 1
                if heap[right].position < heap[smallest].position { smallest = right }
            }
            if smallest == parent { break }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
        return first
    }
}
