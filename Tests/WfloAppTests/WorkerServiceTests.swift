import Foundation
import Testing
import WfloApp
import WfloCore
import WfloEngine
import WfloPricing

struct WorkerServiceTests {
    /// A worker at its concurrency claims the next run as soon as the one in hand ends: with a
    /// 3 s poll interval and one slot, three free runs finish well before one poll interval has
    /// passed twice (before the wake-up, each next claim waited out the interval).
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
            let worker = WorkerService(store: store, runs: runs, settings: .init(concurrency: 1, pollInterval: 3))
            let clock = ContinuousClock()
            let started = clock.now
            let working = Task { try await worker.run() }
            var finished = 0
            while clock.now - started < .seconds(10) {
                finished = 0
                for id in ids where try await store.run(id: id)?.status == .completed { finished += 1 }
                if finished == ids.count { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            let elapsed = clock.now - started
            worker.stop()
            try await working.value
            try await environment.close()
            #expect(finished == 3)
            #expect(elapsed < .seconds(3), "three runs on one slot took \(elapsed); the next claim should not wait for the 3 s poll")
        }
    }
}
