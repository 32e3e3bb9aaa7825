import Foundation
import Testing
import WfloCore
import WfloStore
import WfloTesting

/// Deployed workflows and the journal's side of exactly-once schedule ticks (issue 21), run
/// against every ``StoreUnderTest``.
struct DeploymentConformanceTests {
    static let stores = ConformanceTests.stores

    private func tickRun(_ id: String, key: String, tick: Double, created: Double) -> EnqueueRequest {
        var run = sampleRun(id: id, created: created)
        run.trigger = RunTrigger(kind: .schedule, at: date(tick), key: key)
        return EnqueueRequest(run: run, events: [], idempotencyKey: run.trigger?.idempotencyKey)
    }

    @Test(arguments: stores)
    func deploysAreVersionedAndUndeployStopsTheNewest(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            #expect(try await store.deployments().isEmpty)
            let first = try await store.deploy(DeploymentRequest(name: "triage", path: "a.yaml", source: "v1", at: date(1)))
            #expect(first == DeploymentRecord(name: "triage", version: 1, path: "a.yaml", source: "v1", deployedAt: date(1)))
            _ = try await store.deploy(DeploymentRequest(name: "digest", path: "d.yaml", source: "d1", at: date(2)))
            let second = try await store.deploy(DeploymentRequest(name: "triage", path: "b.yaml", source: "v2", at: date(3)))
            #expect(second.version == 2)
            #expect(try await store.deployments().map { "\($0.name) v\($0.version) \($0.source)" } == ["digest v1 d1", "triage v2 v2"])
            #expect(try await store.undeploy(name: "triage", at: date(4)))
            #expect(try await store.undeploy(name: "triage", at: date(5)) == false)
            #expect(try await store.undeploy(name: "nope", at: date(5)) == false)
            #expect(try await store.deployments().map(\.name) == ["digest"])
            // Deploying again after an undeploy is the next version, active again.
            #expect(try await store.deploy(DeploymentRequest(name: "triage", path: "b.yaml", source: "v3", at: date(6))).version == 3)
            #expect(try await store.deployments().map(\.name) == ["digest", "triage"])
        }
    }

    @Test(arguments: stores)
    func aTicksRunIsCreatedOnceAndCarriesItsTrigger(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            #expect(try await store.lastTick(scheduleKey: "w|every 1s") == nil)
            let outcomes = try await withThrowingTaskGroup(of: EnqueueOutcome.self) { group in
                for index in 0..<8 {
                    group.addTask { try await store.enqueueRun(self.tickRun("r\(index)", key: "w|every 1s", tick: 100, created: 100.2)) }
                }
                return try await group.reduce(into: [EnqueueOutcome]()) { $0.append($1) }
            }
            let created = outcomes.filter { if case .enqueued = $0 { true } else { false } }
            #expect(created.count == 1)
            #expect(Set(outcomes.map(\.run.id)).count == 1)
            let run = try #require(try await store.run(id: created[0].run.id))
            #expect(run.trigger == RunTrigger(kind: .schedule, at: date(100), key: "w|every 1s"))
            _ = try await store.enqueueRun(tickRun("later", key: "w|every 1s", tick: 103, created: 103.1))
            _ = try await store.enqueueRun(tickRun("other", key: "x|every 1s", tick: 200, created: 104))
            #expect(try await store.lastTick(scheduleKey: "w|every 1s") == date(103))
            #expect(try await store.latestRun(workflowName: "brief")?.id == "other")
            #expect(try await store.latestRun(workflowName: "nope") == nil)
            // A run a person started has no trigger, and the listing reads it back.
            try await store.createRun(sampleRun(id: "by-hand", created: 105))
            #expect(try await store.run(id: "by-hand")?.trigger == nil)
            #expect(try await store.listRuns(limit: 10).first { $0.id == "later" }?.trigger?.at == date(103))
        }
    }

    @Test(arguments: stores)
    func refusedWebhookDeliveriesAreCountedPerHook(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            #expect(try await store.rejectedDeliveries(hook: "new-ticket") == 0)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<6 { group.addTask { try await store.countRejectedDelivery(hook: "new-ticket", at: date(Double(index))) } }
                try await group.waitForAll()
            }
            try await store.countRejectedDelivery(hook: "other", at: date(9))
            #expect(try await store.rejectedDeliveries(hook: "new-ticket") == 6)
            #expect(try await store.rejectedDeliveries(hook: "other") == 1)
            #expect(try await store.listRuns(limit: 10).isEmpty)
        }
    }
}
