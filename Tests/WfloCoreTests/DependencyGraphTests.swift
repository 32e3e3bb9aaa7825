import Testing
import WfloCore

/// ``DependencyGraph`` over positions: the cycle rule for YAML and Swift workflows.
struct DependencyGraphTests {
    static func graph(_ waits: [[Int]]) -> DependencyGraph {
        DependencyGraph(ids: waits.indices.map { "s\($0)" }) { waits[$0] }
    }

    @Test func stepsWaitingOnlyForEarlierOnesHaveNoCycle() {
        #expect(Self.graph([[], [0], [1, 0], [2]]).cycles().isEmpty)
    }

    @Test func aStepWaitingForALaterOneIsACycleOnlyWhenTheLaterOneWaitsBack() {
        // s0 waits for s2, which waits for nothing: written out of order, no cycle.
        #expect(Self.graph([[2], [0], []]).cycles().isEmpty)
        // s0 waits for s2, s2 for s1, s1 for s0.
        #expect(Self.graph([[2], [0], [1]]).cycles() == [["s0", "s1", "s2", "s0"]])
    }

    @Test func selfEdgesAndPositionsOutOfRangeAreLeftOut() {
        #expect(Self.graph([[0, 7], [1, -1]]).cycles().isEmpty)
    }

    @Test func eachGroupIsOneCycleInFileOrderOfItsFirstStep() {
        let cycles = Self.graph([[], [3], [4], [1], [2]]).cycles()
        #expect(cycles == [["s1", "s3", "s1"], ["s2", "s4", "s2"]])
    }
}
