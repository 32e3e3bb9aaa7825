import Testing
import WfloCore

struct JournalEventKindTests {
    @Test("a run's status writes run_STATUS, the text journals have always held", arguments: RunStatus.allCases)
    func runStatusEvent(status: RunStatus) {
        #expect(JournalEventKind.run(status).rawValue == "run_" + status.rawValue)
    }

    @Test("an attempt that decides its step writes the step's event, else the attempt's own")
    func settlingEvent() {
        #expect(JournalEventKind.settling(stepStatus: .completed, succeeded: true) == .stepCompleted)
        #expect(JournalEventKind.settling(stepStatus: .failed, succeeded: false) == .stepFailed)
        #expect(JournalEventKind.settling(stepStatus: .budgetExceeded, succeeded: false) == .stepFailed)
        #expect(JournalEventKind.settling(stepStatus: nil, succeeded: true) == .attemptSucceeded)
        #expect(JournalEventKind.settling(stepStatus: nil, succeeded: false) == .attemptFailed)
    }

    @Test("every kind's stored text is distinct and snake_case")
    func storedText() {
        let texts = JournalEventKind.allCases.map(\.rawValue)
        #expect(Set(texts).count == texts.count)
        #expect(texts.allSatisfy { $0.allSatisfy { $0 == "_" || ($0.isLetter && $0.isLowercase) } })
        #expect(JournalEventKind(rawValue: "step_completed") == .stepCompleted)
    }
}
