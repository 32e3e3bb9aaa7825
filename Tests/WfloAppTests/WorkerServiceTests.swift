import Foundation
import Testing
import WfloApp
import WfloCore
import WfloEngine
import WfloPricing

struct WorkerServiceTests {
    /// A worker at its concurrency claims the next run as soon as the one in hand ends, and
    /// stops at once: with a 10-minute poll interval and one slot, three runs finish and the
    /// worker ends in moments (before the wake-up, the second run waited the whole interval).
    /// No bound on time but the test's own: the full suite on two cores slows everything.
    @Test(.timeLimit(.minutes(10)))
    func aFreedSlotIsFilledAtOnceNotAfterThePollInterval() async throws {
        try await ServiceTests.withJournal { folder, store in
            let file = folder.appendingPathComponent("free.yaml")
            try """
            name: free
            budget: 0
            steps:
              - id: shape
                type: transform
                output: {done: true}
            """.write(to: file, atomically: true, encoding: .utf8)
            let pricing = try PricingTable(json: [:], source: "empty table")
            let environment = try WfloEnvironment(store: store, settings: .init(pricing: pricing, environment: ["HOME": folder.path]))
            let runs = environment.runs(observer: SilentObserver())
            let workflow = try runs.load(file: file.path)
            var ids: [String] = []
            for _ in 0..<3 {
                ids.append(try await runs.submit(workflow, inputs: [:], budget: .zero).run.id)
            }
            let worker = WorkerService(store: store, runs: runs, settings: .init(concurrency: 1, pollInterval: 600))
            let working = Task { try await worker.run() }
            let clock = ContinuousClock()
            let started = clock.now
            var statuses: [RunStatus?] = []
            while clock.now - started < .seconds(300) {
                statuses = []
                for id in ids { statuses.append(try await store.run(id: id)?.status) }
                if statuses.allSatisfy({ $0?.isFinal == true }) { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(statuses == [.completed, .completed, .completed])
            worker.stop()
            try await working.value
            try await environment.close()
        }
    }
}
