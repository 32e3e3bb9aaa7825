import Foundation
import Testing
import WfloApp
import WfloCore
import WfloEngine
import WfloPricing
import WfloStore
import WfloTesting

/// Deploy, list, undeploy, and the schedule loop's ticks at the service level, with the clock given.
struct TriggerServiceTests {
    static let scheduled = """
        name: ticker
        budget: 0
        inputs:
          label: {type: string}
        triggers:
          - schedule: {every: 1s, inputs: {label: tick}, catchup: CATCHUP}
        steps:
          - id: shape
            type: transform
            output: {label: "{{inputs.label}}"}

        """

    /// A trigger service over `store`, with the ticker workflow (its `catchup`) written into `folder`.
    static func service(_ store: any JournalStore, in folder: URL, catchup: String = "all") throws -> (WfloEnvironment, TriggerService, String) {
        let file = folder.appendingPathComponent("ticker.yaml")
        try scheduled.replacingOccurrences(of: "CATCHUP", with: catchup).write(to: file, atomically: true, encoding: .utf8)
        let pricing = try PricingTable(json: [:], source: "empty table")
        let environment = try WfloEnvironment(store: store, settings: .init(pricing: pricing, environment: ["HOME": folder.path]))
        return (environment, TriggerService(runs: environment.runs(observer: SilentObserver())), file.path)
    }

    static func at(_ seconds: Double) -> Date { Date(timeIntervalSince1970: 1_800_000_000 + seconds) }

    static func ticks(_ store: any JournalStore) async throws -> [Double] {
        try await store.listRuns(limit: 1000).compactMap { $0.trigger?.at.timeIntervalSince(at(0)) }.sorted()
    }

    @Test func deployListsTheNextFireAndUndeployStopsTheTicks() async throws {
        try await ServiceTests.withJournal { folder, store in
            let (environment, service, path) = try Self.service(store, in: folder)
            let (record, _) = try await service.deploy(file: path, at: Self.at(0))
            #expect(record.version == 1)
            let listed = try await service.workflows(at: Self.at(0.4))
            #expect(listed.map(\.deployment.name) == ["ticker"])
            #expect(listed[0].triggers.map(\.description) == ["every 1s"])
            #expect(listed[0].triggers[0].nextFire == Self.at(1))
            #expect(listed[0].lastRun == nil)

            let (fired, problems) = try await service.fireDueSchedules(now: Self.at(2.5))
            #expect(problems.isEmpty)
            #expect(fired.map { $0.tick.timeIntervalSince(Self.at(0)) } == [1, 2])
            let run = try #require(try await store.run(id: fired[1].runID))
            #expect(run.status == .queued && run.inputs == ["label": "tick"] && run.budget == .zero)
            #expect(run.trigger?.kind == .schedule)
            #expect(try await service.workflows(at: Self.at(2.5))[0].lastRun?.id == run.id)

            try await service.undeploy(name: "ticker")
            #expect(try await service.fireDueSchedules(now: Self.at(10)).fired.isEmpty)
            let missing = try await #require(throws: AppError.self) { try await service.undeploy(name: "tickr") }
            #expect(missing.code == .notFound)
            try await environment.close()
        }
    }

    /// Three services (as three processes would) race on one journal over 20 ticks, each looking
    /// at its own moments: every tick makes exactly one run, none is missed.
    @Test(.timeLimit(.minutes(5)))
    func threeLoopsOnOneJournalFireEachTickExactlyOnce() async throws {
        try await ServiceTests.withJournal { folder, store in
            let path = folder.appendingPathComponent("wflo.db").path
            let (environment, first, file) = try Self.service(store, in: folder)
            _ = try await first.deploy(file: file, at: Self.at(0))
            var services = [first]
            var environments = [environment]
            for _ in 0..<2 {
                let (e, s, _) = try Self.service(try SQLiteJournalStore(path: path), in: folder)
                services.append(s)
                environments.append(e)
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, service) in services.enumerated() {
                    group.addTask {
                        // Each loop looks every 0.25 s of the given clock, offset from the others.
                        var now = 0.1 * Double(index)
                        while now <= 20.5 {
                            _ = try await service.fireDueSchedules(now: Self.at(now))
                            now += 0.25
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await Self.ticks(store) == (1...20).map(Double.init))
            for e in environments { try await e.close() }
        }
    }

    @Test(arguments: [("all", [1.0, 2, 3, 4, 5, 6, 7, 8]), ("last", [1.0, 2, 8]), ("none", [1.0, 2])])
    func aFiveTickOutageIsCaughtUpAsTheScheduleSays(catchup: String, expected: [Double]) async throws {
        try await ServiceTests.withJournal { folder, store in
            let (environment, service, file) = try Self.service(store, in: folder, catchup: catchup)
            _ = try await service.deploy(file: file, at: Self.at(0))
            _ = try await service.fireDueSchedules(now: Self.at(1.2))
            _ = try await service.fireDueSchedules(now: Self.at(2.2))
            // No loop ran for ticks 3 to 8; one comes back 0.7 s after tick 8 (late: `none` takes nothing).
            _ = try await service.fireDueSchedules(now: Self.at(8.7))
            #expect(try await Self.ticks(store) == expected)
            try await environment.close()
        }
    }

    @Test func aWorkflowWithTriggersButNoBudgetIsNotDeployed() async throws {
        try await ServiceTests.withJournal { folder, store in
            let (environment, service, file) = try Self.service(store, in: folder)
            try Self.scheduled.replacingOccurrences(of: "CATCHUP", with: "all").replacingOccurrences(of: "budget: 0\n", with: "")
                .write(toFile: file, atomically: true, encoding: .utf8)
            let refused = try await #require(throws: AppError.self) { try await service.deploy(file: file) }
            #expect(refused.message.contains("has triggers but no 'budget:'"))
            #expect(try await store.deployments().isEmpty)
            try await environment.close()
        }
    }

    /// Scheduled runs go through the concurrency key like any other: with `skip`, a tick arriving
    /// while the last tick's run has not ended is skipped (saying why); ticks still fire once each.
    @Test func scheduledRunsTakeTheWorkflowsConcurrencyKey() async throws {
        try await ServiceTests.withJournal { folder, store in
            let (environment, service, file) = try Self.service(store, in: folder)
            try (Self.scheduled.replacingOccurrences(of: "CATCHUP", with: "all") + "concurrency: {limit: 1, on_conflict: skip}\n")
                .write(toFile: file, atomically: true, encoding: .utf8)
            _ = try await service.deploy(file: file, at: Self.at(0))
            let (fired, problems) = try await service.fireDueSchedules(now: Self.at(3.5))
            #expect(problems.isEmpty)
            #expect(fired.count == 3)
            var runs: [RunRecord] = []
            for tick in fired { runs.append(try #require(try await store.run(id: tick.runID))) }
            #expect(runs.map(\.status) == [.queued, .cancelled, .cancelled])
            #expect(runs.allSatisfy { $0.concurrency == RunConcurrency(key: "", limit: 1, onConflict: .skip) })
            #expect(runs[1].error == "skipped: workflow 'ticker' already has 1 run under its concurrency limit (limit 1, on_conflict: skip)")
            // The same ticks again: nothing new.
            #expect(try await service.fireDueSchedules(now: Self.at(3.6)).0.isEmpty)
            #expect(try await store.listRuns(limit: 10).count == 3)
            try await environment.close()
        }
    }
}
