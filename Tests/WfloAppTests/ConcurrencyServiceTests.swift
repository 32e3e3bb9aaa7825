import Foundation
import Testing
import WfloApp
import WfloCore
import WfloEngine
import WfloPricing
import WfloStore
import WfloTesting

/// `cancel_running` at the service level: a submitted run displacing one that nobody drives (it waits
/// for a worker) ends that run at once, through the path `wflo cancel` takes.
struct ConcurrencyServiceTests {
    static let workflow = """
        name: latest
        budget: 0
        inputs:
          customer: {type: string}
        concurrency: {limit: 1, key: "{{inputs.customer}}", on_conflict: cancel_running}
        steps:
          - id: shape
            type: transform
            output: {customer: "{{inputs.customer}}"}

        """

    @Test func aNewerSubmittedRunCancelsTheQueuedOneAtOnce() async throws {
        try await ServiceTests.withJournal { folder, store in
            let file = folder.appendingPathComponent("latest.yaml")
            try Self.workflow.write(to: file, atomically: true, encoding: .utf8)
            let pricing = try PricingTable(json: [:], source: "empty table")
            let environment = try WfloEnvironment(store: store, settings: .init(pricing: pricing, environment: ["HOME": folder.path]))
            let runs = environment.runs(observer: SilentObserver())
            let workflow = try runs.load(file: file.path)
            let first = try await runs.submit(workflow, inputs: ["customer": "acme"], budget: .zero).run
            let other = try await runs.submit(workflow, inputs: ["customer": "globex"], budget: .zero).run
            let second = try await runs.submit(workflow, inputs: ["customer": "acme"], budget: .zero).run
            #expect(second.status == .queued)
            let ended = try #require(try await store.run(id: first.id))
            #expect(ended.status == .cancelled)
            #expect(ended.error?.contains("cancel_running: the newer run \(second.id) of workflow 'latest' with concurrency key 'acme'") == true,
                    "\(ended.error ?? "")")
            #expect(try await store.run(id: other.id)?.status == .queued, "another key is untouched")
            #expect(try await store.concurrencyOccupants(workflow: "latest", key: "acme").map(\.runID) == [second.id])
            try await environment.close()
        }
    }
}
