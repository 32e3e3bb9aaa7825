import Foundation
import Testing
import WfloApp
import WfloCore
import WfloEngine
import WfloPricing

struct WorkerServiceTests {
    /// A worker at its concurrency claims the next run as soon as the one in hand ends: with a
    /// 5 s poll interval and one slot, each next run is claimed within moments of the one before
    /// ending, read from the journal's own times (before the wake-up, each claim waited out the interval).
    @Test func aFreedSlotIsFilledAtOnceNotAfterThePollInterval() async throws {
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
            let worker = WorkerService(store: store, runs: runs, settings: .init(concurrency: 1, pollInterval: 5))
            let working = Task { try await worker.run() }
            let clock = ContinuousClock()
            let started = clock.now
            var statuses: [RunStatus?] = []
            while clock.now - started < .seconds(90) {
                statuses = []
                for id in ids { statuses.append(try await store.run(id: id)?.status) }
                if statuses.allSatisfy({ $0?.isFinal == true }) { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            worker.stop()
            try await working.value
            #expect(statuses == [.completed, .completed, .completed])
            // From the journal: each run's first event after it was queued (the claim) against the
            // end of the run before it on the one slot. Waiting for the poll, a gap is at least 5 s.
            var spans: [(claimed: Date, ended: Date)] = []
            for id in ids {
                let events = try await store.journal(runID: id).events
                guard let claimed = events.first(where: { $0.kind != .runQueued && $0.kind != .runStarted })?.at,
                      let ended = events.last?.at else { continue }
                spans.append((claimed, ended))
            }
            spans.sort { $0.claimed < $1.claimed }
            #expect(spans.count == 3)
            for (before, after) in zip(spans, spans.dropFirst()) {
                let gap = after.claimed.timeIntervalSince(before.ended)
                #expect(gap < 2.5, "the next run was claimed \(gap) s after the slot freed; the poll interval is 5 s")
            }
            try await environment.close()
        }
    }
}
