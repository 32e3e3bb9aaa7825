import Testing
@testable import WfloEngine

/// What the scheduler lets go of as a run goes: an output once the last step reading it has
/// started, unless the workflow's `outputs:` name it (or a sub-workflow returns every output).
struct OutputReadersTests {
    @Test func aChainLetsEachOutputGoOnceTheNextStepStarts() {
        // 0 ← 1 ← 2; the workflow returns 2's output.
        var readers = OutputReaders(count: 3, keeping: [2])
        readers.willRead(0)
        readers.willRead(1)
        #expect(readers.haveRead([0]) == [0])
        #expect(readers.haveRead([1]) == [1])
    }

    @Test func anOutputReadByTwoStepsStaysUntilBothStarted() {
        // 1 and 2 wait for 0; 3 waits for 1 and 2.
        var readers = OutputReaders(count: 4, keeping: [])
        for position in [0, 0, 1, 2] { readers.willRead(position) }
        #expect(readers.haveRead([0]) == [])
        #expect(readers.haveRead([0]) == [0])
        #expect(readers.haveRead([1, 2]) == [1, 2])
    }

    @Test func anOutputTheWorkflowReturnsIsKept() {
        var readers = OutputReaders(count: 2, keeping: [0])
        readers.willRead(0)
        #expect(readers.haveRead([0]) == [])
    }

    @Test func aSubWorkflowWithoutOutputsKeepsThemAll() {
        var readers = OutputReaders(count: 2, keeping: nil)
        readers.willRead(0)
        #expect(readers.haveRead([0]) == [])
    }
}
