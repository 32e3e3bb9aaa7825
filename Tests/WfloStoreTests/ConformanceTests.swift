import Foundation
import Synchronization
import Testing
import WfloCore
import WfloPostgres
import WfloStore
import WfloTesting

/// The stores every invariant below runs against. A new store (PostgreSQL) is one case here and
/// one line in ``with(_:)``.
enum StoreUnderTest: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqliteFile = "SQLite file"
    case sqliteMemory = "SQLite in memory"
    case memory = "MemoryJournalStore"
    /// A fresh schema per test on `WFLO_TEST_POSTGRES_URL` (see ``PostgresTestJournal``).
    case postgres = "PostgreSQL"

    var testDescription: String { rawValue }

    /// Runs `body` with a fresh, empty store of this kind.
    func with<T>(_ body: (any JournalStore) async throws -> T) async throws -> T {
        switch self {
        case .sqliteFile:
            try await withTemporaryDirectory { directory in
                try await body(try SQLiteJournalStore(path: directory.appendingPathComponent("wflo.db").path))
            }
        case .sqliteMemory: try await body(try SQLiteJournalStore.inMemory())
        case .memory: try await body(MemoryJournalStore())
        case .postgres: try await PostgresTestJournal.withStore { try await body($0) }
        }
    }
}

/// The invariants a journal store carries (DESIGN.md's invariants 1, 2 and 4, leases, the cache,
/// circuits, lookups), run against every ``StoreUnderTest``.
struct ConformanceTests {
    /// PostgreSQL only with a server (``PostgresTestJournal/enabled``); `PostgresJournalTests` says when it is skipped.
    static let stores = StoreUnderTest.allCases.filter { $0 != .postgres || PostgresTestJournal.enabled }

    // MARK: runs and events

    @Test(arguments: stores)
    func runsRoundTripAndEveryChangeIsAnEvent(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.createRun(sampleRun(id: "a", created: 1))
            try await store.createRun(sampleRun(id: "b", budget: nil, created: 2))
            #expect(try await store.run(id: "a") == sampleRun(id: "a", created: 1))
            #expect(try await store.run(id: "nope") == nil)
            #expect(try await store.listRuns(limit: 10).map(\.id) == ["b", "a"])
            #expect(try await store.listRuns(limit: 1).map(\.id) == ["b"])
            let duplicate = try await #require(throws: StoreError.self) { try await store.createRun(sampleRun(id: "a")) }
            #expect(duplicate.code == .conflict)

            try await store.updateRun(id: "a", status: .failed, outputs: ["x": 1], error: "boom", at: date(3))
            try await store.updateRunBudget(id: "a", budget: money("2.5"), at: date(4))
            try await store.appendEvent(EventRecord(runID: "a", stepID: nil, kind: .runResumed, data: ["n": 1], at: date(5)))
            let journal = try await store.journal(runID: "a")
            #expect(journal.run.status == .failed && journal.run.error == "boom" && journal.run.outputs == ["x": 1])
            #expect(journal.run.budget == money("2.5") && journal.run.updatedAt == date(4))
            #expect(journal.events.map(\.kind) == [.runFailed, .budgetChanged, .runResumed])
            #expect(journal.events.map(\.sequence) == [1, 2, 3])
            #expect(journal.events[0].data == ["error": "boom"])
            #expect(journal.events[1].data == ["budget_usd": "2.5"])

            let missing = try await #require(throws: StoreError.self) {
                try await store.updateRun(id: "nope", status: .completed, outputs: nil, error: nil, at: date(1))
            }
            #expect(missing.code == .notFound)
            await #expect(throws: StoreError.self) { try await store.journal(runID: "nope") }
            await #expect(throws: StoreError.self) { try await store.ledger(runID: "nope") }
        }
    }

    // MARK: admission (invariant 1)

    @Test(arguments: stores)
    func racingReservationsNeverOverspend(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.createRun(sampleRun(budget: "1.00"))
            let outcomes = try await withThrowingTaskGroup(of: AttemptBeginOutcome.self) { group in
                for index in 0..<40 {
                    group.addTask { try await store.beginAttempt(start(step: "s\(index)", reserve: "0.1")) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.compactMap(\.attemptID).count == 10)
            #expect(outcomes.allSatisfy { if case .refused(_, let requested) = $0 { requested == money("0.1") } else { $0.attemptID != nil } })
            let ledger = try await store.ledger(runID: "run-1")
            #expect(ledger == LedgerSnapshot(settled: .zero, reserved: money("1.0"), budget: money("1.00")))
            let journal = try await store.journal(runID: "run-1")
            #expect(journal.ledger == ledger)
            #expect(journal.attempts.count == 10 && journal.steps.count == 10)
            #expect(journal.events.filter { $0.kind == .stepStarted }.count == 10)
            #expect(Set(journal.attempts.map(\.id)).count == 10)
        }
    }

    @Test(arguments: stores)
    func racingReservationsNeverOverspendASubBudget(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.createRun(sampleRun(budget: "10"))
            let limit = BudgetLimit(prefix: "enrich/", budget: money("0.5"), label: "workflow step 'enrich'")
            // Attempts outside the prefix (the engine gives them no limit), including ids that sort
            // right after it, do not count against it.
            for (index, step) in ["enrichment", "enrich0/a", "other"].enumerated() {
                let outside = AttemptStart(runID: "run-1", stepID: step, stepType: .llm, number: 1, model: nil, reserve: money("3"),
                                           at: date(Double(index)))
                #expect(try await store.beginAttempt(outside).attemptID != nil)
            }
            let outcomes = try await withThrowingTaskGroup(of: AttemptBeginOutcome.self) { group in
                for index in 0..<20 {
                    group.addTask {
                        try await store.beginAttempt(AttemptStart(runID: "run-1", stepID: "enrich/s\(index)", stepType: .llm, number: 1,
                                                                  model: nil, reserve: money("0.1"), at: date(5), limits: [limit]))
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.compactMap(\.attemptID).count == 5)
            for outcome in outcomes where outcome.attemptID == nil {
                #expect(outcome == .refusedByLimit(limit: limit, committed: money("0.5"), requested: money("0.1")))
            }
            // A settled cost below the reservation frees room under the limit.
            let journal = try await store.journal(runID: "run-1")
            let first = try #require(journal.attempts.first { $0.stepID.hasPrefix("enrich/") })
            try await store.finishAttempt(finish(first.id, step: first.stepID, cost: "0.02"))
            let fits = AttemptStart(runID: "run-1", stepID: "enrich/more", stepType: .llm, number: 1, model: nil,
                                    reserve: money("0.08"), at: date(6), limits: [limit])
            #expect(try await store.beginAttempt(fits).attemptID != nil)
            var over = fits
            over.stepID = "enrich/over"
            over.reserve = money("0.000001")
            #expect(try await store.beginAttempt(over) == .refusedByLimit(limit: limit, committed: money("0.5"), requested: money("0.000001")))
            #expect(try await store.ledger(runID: "run-1").committed == money("9.5"))
        }
    }

    @Test(arguments: stores)
    func aStoppedRunAdmitsNothing(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.createRun(sampleRun(budget: nil))
            let id = try #require(try await store.beginAttempt(start(step: "a", reserve: "0.01")).attemptID)
            var settle = finish(id, step: "a", cost: "0.01")
            settle.flags = [AttemptFlag.unpricedUsage("audio_tokens")]
            let ledger = try await store.finishAttempt(settle)
            #expect(ledger.stopReason == AttemptFlag.stopReason(flags: settle.flags))
            #expect(try await store.beginAttempt(start(step: "b", reserve: "0")) == .refused(ledger: ledger, requested: .zero))
            #expect(try await store.journal(runID: "run-1").attempts.first?.flags == settle.flags)
        }
    }

    @Test(arguments: stores)
    func aCancelledRunStartsNoAttemptAndTheFirstRequestIsKept(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.createRun(sampleRun(budget: "1"))
            #expect(try await store.cancelRequest(runID: "run-1") == nil)
            let first = try await store.requestCancel(runID: "run-1", by: "ana", reason: "wrong topic", at: date(2))
            #expect(first == CancelRequest(at: date(2), by: "ana", reason: "wrong topic"))
            #expect(try await store.requestCancel(runID: "run-1", by: "bo", reason: nil, at: date(3)) == first)
            #expect(try await store.cancelRequest(runID: "run-1") == first)
            let before = try await store.journal(runID: "run-1")
            #expect(before.events.map(\.kind) == [.cancelRequested])
            #expect(before.events.first?.data == ["by": "ana", "reason": "wrong topic"])

            #expect(try await store.beginAttempt(start(step: "a", reserve: "0")) == .runCancelled)
            #expect(try await store.journal(runID: "run-1") == before)
            await #expect(throws: StoreError.self) { try await store.requestCancel(runID: "nope", by: "x", reason: nil, at: date(1)) }
        }
    }

    // MARK: settlement (invariant 2)

    @Test(arguments: stores)
    func anAttemptIsChargedOnce(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.createRun(sampleRun(budget: "1"))
            let id = try #require(try await store.beginAttempt(start(step: "outline", reserve: "0.04")).attemptID)
            let settled = try await store.finishAttempt(finish(id, step: "outline", cost: "0.03"))
            #expect(settled == LedgerSnapshot(settled: money("0.03"), reserved: .zero, budget: money("1")))
            let before = try await store.journal(runID: "run-1")
            #expect(before.steps.first?.status == .completed && before.steps.first?.output == ["text": "ok"])
            #expect(before.attempts.first?.status == .succeeded && before.attempts.first?.cost == money("0.03"))
            #expect(before.events.map(\.kind) == [.stepStarted, .stepCompleted])
            // Finishing it again changes nothing and returns the ledger as it is.
            #expect(try await store.finishAttempt(finish(id, step: "outline", cost: "0.5", succeeded: false)) == settled)
            #expect(try await store.journal(runID: "run-1") == before)
            let unknown = try await #require(throws: StoreError.self) { try await store.finishAttempt(finish(99, cost: "0")) }
            #expect(unknown.code == .notFound)
        }
    }

    @Test(arguments: stores)
    func anUnansweredCallStaysChargedAtItsReservation(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.createRun(sampleRun(budget: "1"))
            let id = try #require(try await store.beginAttempt(start(step: "outline", reserve: "0.05")).attemptID)
            let ledger = try await store.finishAttempt(.unanswered(attemptID: id, runID: "run-1", stepID: "outline", error: "timed out",
                                                                   stepStatus: .failed, at: date(2)))
            #expect(ledger == LedgerSnapshot(settled: .zero, reserved: money("0.05"), budget: money("1")))
            let journal = try await store.journal(runID: "run-1")
            #expect(journal.attempts.first?.status == .unsettled && journal.attempts.first?.cost == nil)
            #expect(journal.attempts.first?.charged == money("0.05"))
            #expect(journal.steps.first?.status == .failed)
            #expect(journal.events.last?.kind == .stepFailed && journal.events.last?.data["unsettled"] == true)
            #expect(try await store.finishAttempt(finish(id, step: "outline", cost: "0")) == ledger)
            #expect(journal.ledger == ledger)
        }
    }

    /// Issue 23, item 2: an attempt that waited for a connection is journaled from its send.
    @Test(arguments: stores)
    func anAttemptsStartMovesToItsSendAndTheStepKeepsItsOwn(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.createRun(sampleRun(budget: "1"))
            let sent = try #require(try await store.beginAttempt(start(step: "a", reserve: "0.04", at: 1)).attemptID)
            var settle = finish(sent, step: "a", cost: "0.01", at: 3)
            settle.sentAt = date(2.5)
            try await store.finishAttempt(settle)
            let unanswered = try #require(try await store.beginAttempt(start(step: "b", reserve: "0.04", at: 1)).attemptID)
            var timedOut = AttemptFinish.unanswered(attemptID: unanswered, runID: "run-1", stepID: "b", error: "timed out",
                                                    stepStatus: .failed, at: date(4))
            timedOut.sentAt = date(2)
            try await store.finishAttempt(timedOut)
            let unmarked = try #require(try await store.beginAttempt(start(step: "c", reserve: "0.04", at: 1)).attemptID)
            try await store.finishAttempt(finish(unmarked, step: "c", cost: "0.01", at: 3))
            let journal = try await store.journal(runID: "run-1")
            let attempts = Dictionary(uniqueKeysWithValues: journal.attempts.map { ($0.stepID, $0) })
            #expect(attempts["a"]?.startedAt == date(2.5) && attempts["a"]?.finishedAt == date(3))
            #expect(attempts["b"]?.startedAt == date(2) && attempts["b"]?.finishedAt == date(4))
            #expect(attempts["c"]?.startedAt == date(1), "no send marked: the reservation's time stays")
            #expect(journal.steps.allSatisfy { $0.startedAt == date(1) }, "a step starts at its reservation")
        }
    }

    @Test(arguments: stores)
    func inFlightAttemptsAreMarkedUnsettledAndStayCharged(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.createRun(sampleRun(budget: "1"))
            let done = try #require(try await store.beginAttempt(start(step: "a", reserve: "0.04")).attemptID)
            try await store.finishAttempt(finish(done, step: "a", cost: "0.01"))
            _ = try await store.beginAttempt(start(step: "b", reserve: "0.2"))
            _ = try await store.beginAttempt(start(step: "c", reserve: "0.3"))

            #expect(try await store.markInFlightUnsettled(runID: "run-1", at: date(9)) == 2)
            #expect(try await store.markInFlightUnsettled(runID: "run-1", at: date(10)) == 0)
            let journal = try await store.journal(runID: "run-1")
            #expect(journal.attempts.map(\.status) == [.succeeded, .unsettled, .unsettled])
            #expect(journal.attempts.dropFirst().allSatisfy { $0.error == inFlightUnsettledError && $0.finishedAt == date(9) })
            #expect(journal.events.last?.kind == .attemptsUnsettled && journal.events.last?.data == ["count": 2])
            let ledger = try await store.ledger(runID: "run-1")
            #expect(ledger == LedgerSnapshot(settled: money("0.01"), reserved: money("0.5"), budget: money("1")))
            #expect(journal.ledger == ledger)
        }
    }

    /// Each reservation's `step_started` event names its attempt's id (PostgreSQL fills the id in
    /// within the statement that inserts the attempt), its number and its reservation.
    @Test(arguments: stores)
    func aReservationsEventNamesItsAttempt(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.createRun(sampleRun(budget: "1"))
            var ids: [Int64] = []
            for (step, reserve) in [("a", "0.04"), ("b", "0.123456789"), ("c", "0.5")] {
                ids.append(try #require(try await store.beginAttempt(start(step: step, reserve: reserve)).attemptID))
            }
            let started = try await store.journal(runID: "run-1").events.filter { $0.kind == .stepStarted }
            #expect(started.count == 3)
            #expect(Set(ids).count == 3)
            for (event, id) in zip(started, ids) {
                #expect(event.data["attempt_id"] == .int(Int(id)))
                #expect(event.data == ["attempt": 1, "attempt_id": .int(Int(id)), "reserved_usd": event.data["reserved_usd"] ?? .null])
            }
            #expect(started.map { $0.data["reserved_usd"] } == [.string("0.04"), .string("0.123456789"), .string("0.5")])
            #expect(started.map(\.stepID) == ["a", "b", "c"])
        }
    }

    @Test(arguments: stores)
    func ledgerSumsAreExactDecimals(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.createRun(sampleRun(budget: "0.3"))
            for (index, cost) in ["0.1", "0.2"].enumerated() {
                let id = try #require(try await store.beginAttempt(start(step: "s\(index)", reserve: cost)).attemptID)
                try await store.finishAttempt(finish(id, step: "s\(index)", cost: cost))
            }
            let ledger = try await store.ledger(runID: "run-1")
            #expect(ledger.settled == money("0.3"))
            // Exactly at the budget: a zero reservation fits, the smallest positive one does not.
            #expect(try await store.beginAttempt(start(step: "z", reserve: "0")).attemptID != nil)
            #expect(try await store.beginAttempt(start(step: "y", reserve: "0.000000001")).attemptID == nil)
            #expect(try await store.journal(runID: "run-1").ledger == ledger)
        }
    }

    @Test(arguments: stores)
    func stepsRecordedWithoutAttemptsUpsert(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.createRun(sampleRun())
            try await store.recordStep(StepRecord(runID: "run-1", stepID: "wait", type: .sleep, status: .running, model: "m",
                                                  startedAt: date(1)), event: EventRecord(runID: "run-1", stepID: "wait", kind: .sleepStarted, at: date(1)))
            try await store.recordStep(StepRecord(runID: "run-1", stepID: "wait", type: .sleep, status: .completed, output: ["ok": true],
                                                  startedAt: date(5), finishedAt: date(6)), event: nil)
            let journal = try await store.journal(runID: "run-1")
            #expect(journal.steps == [StepRecord(runID: "run-1", stepID: "wait", type: .sleep, status: .completed, output: ["ok": true],
                                                 model: "m", startedAt: date(1), finishedAt: date(6))])
            #expect(journal.events.map(\.kind) == [.sleepStarted])
        }
    }

    @Test(arguments: stores)
    func aReportReadHoldsOnlyTheEventsItAsksForAndNoOutputs(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.createRun(sampleRun())
            try await store.appendEvent(EventRecord(runID: "run-1", stepID: nil, kind: .runStarted, data: ["step_order": [["a", "llm"]]], at: date(1)))
            let attempt = try #require(try await store.beginAttempt(start(step: "a", reserve: "0.5")).attemptID)
            try await store.finishAttempt(finish(attempt, step: "a", cost: "0.25", output: ["text": "long answer"]))
            try await store.recordStep(StepRecord(runID: "run-1", stepID: "b", type: .transform, status: .completed, output: ["n": 2],
                                                  startedAt: date(3), finishedAt: date(3)),
                                       event: EventRecord(runID: "run-1", stepID: "b", kind: .stepCompleted, at: date(3)))
            try await store.appendEvent(EventRecord(runID: "run-1", stepID: "a", kind: .agentModelFallback, data: ["to": "m2"], at: date(4)))
            _ = try await store.requestApproval(request(step: "c"), stepType: .approval)
            let full = try await store.journal(runID: "run-1")

            let read = try await store.journal(runID: "run-1", eventKinds: [.runStarted, .agentModelFallback], stepOutputs: false)
            #expect(read.run == full.run && read.attempts == full.attempts && read.approvals == full.approvals)
            #expect(read.steps.map(\.stepID) == full.steps.map(\.stepID) && read.steps.allSatisfy { $0.output == nil })
            #expect(read.steps == full.steps.map { var step = $0; step.output = nil; return step })
            #expect(read.events == full.events.filter { $0.kind == .runStarted || $0.kind == .agentModelFallback })
            #expect(read.events.map(\.sequence) == [1, 5])
            #expect(full.events.count > read.events.count && full.steps.contains { $0.output != nil })

            let withOutputs = try await store.journal(runID: "run-1", eventKinds: [], stepOutputs: true)
            #expect(withOutputs.steps == full.steps && withOutputs.events.isEmpty)
            await #expect(throws: StoreError.self) { try await store.journal(runID: "nope", eventKinds: [], stepOutputs: false) }
        }
    }

    @Test(arguments: stores)
    func aPageReadHoldsOnlyThePickedStepsAndEveryAttempt(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.createRun(sampleRun())
            try await store.appendEvent(EventRecord(runID: "run-1", stepID: nil, kind: .runStarted, data: ["step_order": [["a", "llm"]]], at: date(1)))
            let attempt = try #require(try await store.beginAttempt(start(step: "a", reserve: "0.5")).attemptID)
            try await store.finishAttempt(finish(attempt, step: "a", cost: "0.25", output: ["text": "long answer"]))
            for id in ["b", "b[0]", "b[1]"] {
                try await store.recordStep(StepRecord(runID: "run-1", stepID: id, type: .transform, status: .completed, output: ["n": 2],
                                                      startedAt: date(3), finishedAt: date(3)),
                                           event: EventRecord(runID: "run-1", stepID: id, kind: .stepCompleted, at: date(3)))
            }
            _ = try await store.requestApproval(request(step: "c"), stepType: .approval)
            let full = try await store.journal(runID: "run-1")
            final class Seen: Sendable { let index = Mutex<JournalPageIndex?>(nil) }
            let seen = Seen()

            let page = try await store.journal(runID: "run-1", eventKinds: [.runStarted]) { index in
                seen.index.withLock { $0 = index }
                return ["b[1]", "a", "not-a-step"]
            }
            let index = try #require(seen.index.withLock { $0 })
            #expect(index.run == full.run && index.events == full.events.filter { $0.kind == .runStarted })
            #expect(index.steps.map(\.id).sorted() == ["a", "b", "b[0]", "b[1]", "c"], "c: the approval's step")
            #expect(index.steps.first { $0.id == "a" }?.type == .llm && index.steps.first { $0.id == "b" }?.type == .transform)
            #expect(page.run == full.run && page.attempts == full.attempts && page.approvals == full.approvals)
            #expect(page.events == index.events)
            #expect(page.steps == full.steps.filter { ["a", "b[1]"].contains($0.stepID) }.map { var step = $0; step.output = nil; return step })

            let none = try await store.journal(runID: "run-1", eventKinds: []) { _ in [] }
            #expect(none.steps.isEmpty && none.events.isEmpty && none.attempts == full.attempts)
            await #expect(throws: StoreError.self) { try await store.journal(runID: "nope", eventKinds: []) { _ in [] } }
        }
    }

    /// A journal holds each table's rows in that table's order, whatever order they were written in
    /// (PostgreSQL reads the five tables in one statement and sorts them together).
    @Test(arguments: stores)
    func aJournalHoldsEachTablesRowsInTheirOrder(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.createRun(sampleRun())
            try await store.appendEvent(EventRecord(runID: "run-1", stepID: nil, kind: .runStarted, data: ["n": 1], at: date(1)))
            // Steps by start (not started first), then by id byte by byte: "B" before "a", "a[10]" before "a[2]".
            for (id, start) in [("b", 2.0), ("a[2]", 2), ("a[10]", 2), ("B", 2), ("late", 9), ("first", 1)] as [(String, Double)] {
                try await store.recordStep(StepRecord(runID: "run-1", stepID: id, type: .transform, status: .completed, output: ["id": .string(id)],
                                                      startedAt: date(start), finishedAt: date(start)),
                                           event: EventRecord(runID: "run-1", stepID: id, kind: .stepCompleted, data: ["id": .string(id)], at: date(start)))
            }
            try await store.recordStep(StepRecord(runID: "run-1", stepID: "zz-pending", type: .sleep, status: .pending), event: nil)
            var attempts: [Int64] = []
            for step in ["y", "x"] {
                let id = try #require(try await store.beginAttempt(start(step: step, reserve: "0.01")).attemptID)
                try await store.finishAttempt(finish(id, step: step, cost: "0.005", output: ["text": .string(step)]))
                attempts.append(id)
            }
            _ = try await store.requestApproval(ApprovalRecord(id: "r-late", runID: "run-1", stepID: "gate-2", message: "?", details: [:],
                                                               settings: ApprovalSettings(), requestedAt: date(20)), stepType: .approval)
            _ = try await store.requestApproval(ApprovalRecord(id: "r-early", runID: "run-1", stepID: "gate-1", message: "?", details: [:],
                                                               settings: ApprovalSettings(), requestedAt: date(15)), stepType: .approval)
            let journal = try await store.journal(runID: "run-1")
            #expect(journal.run.id == "run-1")
            #expect(journal.steps.filter { $0.type != .llm && $0.type != .approval }.map(\.stepID)
                    == ["zz-pending", "first", "B", "a[10]", "a[2]", "b", "late"])
            #expect(journal.steps.first { $0.stepID == "a[2]" }?.output == ["id": "a[2]"])
            #expect(journal.attempts.map(\.id) == attempts && journal.attempts.map(\.stepID) == ["y", "x"])
            #expect(journal.events.map(\.sequence) == Array(1...Int64(journal.events.count)))
            #expect(journal.events.filter { $0.kind == .stepCompleted }.compactMap { $0.data["id"]?.stringValue } == ["b", "a[2]", "a[10]", "B", "late", "first"])
            #expect(journal.approvals.map(\.id) == ["r-early", "r-late"])
        }
    }

    // MARK: approvals (invariant 4)

    private func request(_ id: String = "req1", step: String = "publish", timeout: Double? = nil,
                         onTimeout: ApprovalTimeoutAction = .reject) -> ApprovalRecord {
        ApprovalRecord(id: id, runID: "run-1", stepID: step, message: "Publish?", details: ["url": "https://example.com"],
                       worstCase: money("0.02"), settings: ApprovalSettings(approvers: ["ana"], timeout: timeout, onTimeout: onTimeout),
                       requestedAt: date(10))
    }

    @Test(arguments: stores)
    func aRequestIsFiledOncePerStep(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.createRun(sampleRun())
            #expect(try await store.requestApproval(request(), stepType: .approval) == request())
            // After a resume the same step finds its request, not a second one.
            #expect(try await store.requestApproval(request("req2"), stepType: .approval) == request())
            #expect(try await store.approval(id: "req1") == request())
            #expect(try await store.approval(id: "req2") == nil)
            let journal = try await store.journal(runID: "run-1")
            #expect(journal.approvals == [request()])
            #expect(journal.steps.map(\.status) == [.waitingApproval])
            #expect(journal.events.map(\.kind) == [.approvalRequested])
            #expect(journal.events.first?.data == ["request_id": "req1", "message": "Publish?", "worst_case_usd": "0.02"])
            await #expect(throws: StoreError.self) {
                var other = request("req3")
                other.runID = "nope"
                _ = try await store.requestApproval(other, stepType: .approval)
            }
            let missing = try await #require(throws: StoreError.self) {
                try await store.decideApproval(ApprovalDecision(requestID: "nope", verdict: .approve, by: "ana", at: date(11)))
            }
            #expect(missing.code == .notFound)
        }
    }

    @Test(arguments: stores)
    func theFirstOfRacingDecisionsWins(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.createRun(sampleRun())
            _ = try await store.requestApproval(request(), stepType: .approval)
            let outcomes = try await withThrowingTaskGroup(of: ApprovalDecisionOutcome.self) { group in
                for index in 0..<12 {
                    group.addTask {
                        try await store.decideApproval(ApprovalDecision(requestID: "req1", verdict: index.isMultiple(of: 2) ? .approve : .reject,
                                                                        by: "person\(index)", comment: "c\(index)", at: date(11)))
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let recorded = outcomes.compactMap { if case .recorded(let record) = $0 { record } else { nil } }
            #expect(recorded.count == 1)
            let winner = try #require(recorded.first)
            #expect(outcomes.allSatisfy { $0 == .recorded(winner) || $0 == .alreadyDecided(winner) })
            #expect(try await store.approval(id: "req1") == winner)
            let journal = try await store.journal(runID: "run-1")
            #expect(journal.events.filter { $0.kind == .approvalDecided }.count == 1)
            #expect(try await store.approvals(runID: "run-1", status: .pending).isEmpty)
            #expect(try await store.approvals(runID: nil, status: winner.status) == [winner])
        }
    }

    @Test(arguments: stores)
    func aDecisionAfterTheDeadlineRecordsOnTimeout(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.createRun(sampleRun())
            for (index, action) in ApprovalTimeoutAction.allCases.enumerated() {
                let filed = try await store.requestApproval(request("req\(index)", step: "s\(index)", timeout: 60, onTimeout: action),
                                                            stepType: .approval)
                // A timeout asked for before the deadline (another process's clock) changes nothing.
                #expect(try await store.decideApproval(ApprovalDecision(requestID: filed.id, verdict: .timeout, by: "wflo", at: date(69)))
                        == .alreadyDecided(filed))
                let outcome = try await store.decideApproval(ApprovalDecision(requestID: filed.id, verdict: .approve, by: "ana", at: date(70)))
                guard case .alreadyDecided(let decided) = outcome else {
                    Issue.record("a late decision was recorded: \(outcome)")
                    continue
                }
                let expected: ApprovalStatus = switch action {
                case .reject: .rejected
                case .approve: .approved
                case .fail: .expired
                }
                #expect(decided.status == expected)
                #expect(decided.decidedBy == approvalTimeoutDecider && decided.decidedAt == date(70))
                #expect(try await store.approval(id: filed.id) == decided)
            }
            let events = try await store.journal(runID: "run-1").events.filter { $0.kind == .approvalDecided }
            #expect(events.count == 3 && events.allSatisfy { $0.at == date(70) && $0.data["by"] == .string(approvalTimeoutDecider) })
        }
    }

    // MARK: leases

    @Test(arguments: stores)
    func oneOwnerDrivesARunUntilItIsGone(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.createRun(sampleRun())
            let a = RunOwner(pid: 1, host: "h", token: "a")
            let b = RunOwner(pid: 2, host: "h", token: "b")
            #expect(try await store.driver(runID: "run-1") == nil)
            #expect(try await store.claimRun(id: "run-1", owner: a, at: date(1)) { _, _ in true } == .claimed)
            #expect(try await store.claimRun(id: "run-1", owner: b, at: date(2)) { _, _ in false } == .heldBy(a, heartbeatAt: date(1)))
            try await store.heartbeatRun(id: "run-1", token: "a", at: date(3))
            try await store.heartbeatRun(id: "run-1", token: "b", at: date(4))
            #expect(try await store.driver(runID: "run-1") == RunDriver(owner: a, heartbeatAt: date(3)))
            // The holder's own token claims again without asking.
            #expect(try await store.claimRun(id: "run-1", owner: a, at: date(5)) { _, _ in false } == .claimed)
            // takeOver sees the holder and its last heartbeat.
            var seen: (RunOwner, Date)?
            #expect(try await store.claimRun(id: "run-1", owner: b, at: date(6)) { holder, heartbeat in
                seen = (holder, heartbeat)
                return true
            } == .claimed)
            #expect(seen?.0 == a && seen?.1 == date(5))
            try await store.releaseRun(id: "run-1", token: "a")
            #expect(try await store.driver(runID: "run-1") == RunDriver(owner: b, heartbeatAt: date(6)))
            try await store.releaseRun(id: "run-1", token: "b")
            #expect(try await store.driver(runID: "run-1") == nil)
            await #expect(throws: StoreError.self) { try await store.claimRun(id: "nope", owner: a, at: date(1)) { _, _ in true } }
        }
    }

    @Test(arguments: stores)
    func racingClaimsLetOneOwnerIn(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.createRun(sampleRun())
            let claims = try await withThrowingTaskGroup(of: RunClaim.self) { group in
                for index in 0..<10 {
                    group.addTask {
                        try await store.claimRun(id: "run-1", owner: RunOwner(pid: Int32(index), host: "h", token: "t\(index)"),
                                                 at: date(1)) { _, _ in false }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(claims.filter { $0 == .claimed }.count == 1)
        }
    }

    // MARK: the response cache

    private func entry(_ key: String, _ text: String, namespace: String = "default", at: Double, ttl: Double? = nil) -> CacheEntry {
        CacheEntry(key: key, namespace: namespace, model: "gpt-4o-mini", response: ["text": .string(text)], createdAt: date(at),
                   expiresAt: ttl.map { date(at + $0) })
    }

    @Test(arguments: stores)
    func theFirstCachedAnswerWinsUntilItExpires(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            #expect(try await store.storeResponse(entry("k", "first", at: 0, ttl: 10)))
            #expect(try await store.storeResponse(entry("k", "second", at: 1, ttl: 10)) == false)
            #expect(try await store.cachedResponse(key: "k", at: date(9)) == ["text": "first"])
            #expect(try await store.cachedResponse(key: "k", at: date(10)) == nil)
            #expect(try await store.cachedResponse(key: "other", at: date(0)) == nil)
            // An expired entry is replaced.
            #expect(try await store.storeResponse(entry("k", "third", at: 10)))
            #expect(try await store.cachedResponse(key: "k", at: date(1000)) == ["text": "third"])

            let inserted = try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<10 { group.addTask { try await store.storeResponse(self.entry("race", "r\(index)", at: 0)) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(inserted.filter { $0 }.count == 1)
        }
    }

    @Test(arguments: stores)
    func cacheHitsAreJournaledAndCounted(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.createRun(sampleRun())
            try await store.storeResponse(entry("k", "hello", namespace: "a", at: 0))
            try await store.storeResponse(entry("old", "x", namespace: "b", at: 0, ttl: 1))
            let hit = CacheHitRecord(key: "k", runID: "run-1", stepID: "outline", stepType: .llm, number: 1, model: "gpt-4o-mini",
                                     usage: TokenUsage(inputTokens: 10, outputTokens: 5), saved: money("0.0012"), output: ["text": "hello"],
                                     at: date(5))
            try await store.recordCacheHit(hit)
            let journal = try await store.journal(runID: "run-1")
            #expect(journal.attempts.count == 1 && journal.attempts[0].cacheHit && journal.attempts[0].saved == money("0.0012"))
            #expect(journal.attempts[0].charged == .zero && journal.ledger.committed == .zero)
            #expect(journal.steps.map(\.status) == [.completed] && journal.steps.first?.output == ["text": "hello"])
            #expect(journal.events.map(\.kind) == [.stepCompleted] && journal.events.first?.data["cache_hit"] == true)
            let stats = try await store.cacheStats(at: date(5))
            #expect(stats.entries == 2 && stats.expired == 1 && stats.hits == 1 && stats.savings == money("0.0012"))
            #expect(stats.namespaces.map(\.name) == ["a", "b"] && stats.namespaces.map(\.hits) == [1, 0])
            let bytes = [JSONValue.object(["text": "hello"]), .object(["text": "x"])].map { $0.encoded().utf8.count }.reduce(0, +)
            #expect(stats.bytes == bytes)
            // Clearing one namespace also removes what has expired.
            try await store.storeResponse(entry("keep", "y", namespace: "c", at: 0))
            #expect(try await store.clearCache(olderThan: nil, namespace: "a", at: date(5)) == 2)
            #expect(try await store.clearCache(olderThan: date(0), namespace: nil, at: date(5)) == 0)
            #expect(try await store.clearCache(olderThan: nil, namespace: nil, at: date(5)) == 1)
        }
    }

    // MARK: circuits

    @Test(arguments: stores)
    func circuitsOpenProbeAndClose(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            let settings = CircuitBreakerSettings(failureThreshold: 2, window: 60, openFor: 30)
            #expect(try await store.admitCircuit(host: "api.example.com", settings: settings, at: date(0)) == .allowed)
            try await store.recordCircuitResult(host: "api.example.com", failure: true, error: "HTTP 503", settings: settings, at: date(1))
            let opened = try await store.recordCircuitResult(host: "api.example.com", failure: true, error: "HTTP 502", settings: settings, at: date(2))
            #expect(opened.state == .open)
            #expect(try await store.circuits() == [opened])
            #expect(try await store.admitCircuit(host: "api.example.com", settings: settings, at: date(3))
                    == .rejected(until: date(32), lastError: "HTTP 502"))
            // Past its time one probe goes; a second asker is turned away while it is out.
            #expect(try await store.admitCircuit(host: "api.example.com", settings: settings, at: date(32)) == .probe)
            #expect(try await store.admitCircuit(host: "api.example.com", settings: settings, at: date(33))
                    == .rejected(until: date(62), lastError: "HTTP 502"))
            let closed = try await store.recordCircuitResult(host: "api.example.com", failure: false, error: nil, settings: settings, at: date(34))
            #expect(closed.state == .closed && closed.failures.isEmpty)
            #expect(try await store.circuits().isEmpty)
            try await store.recordCircuitResult(host: "a", failure: true, error: "x", settings: settings, at: date(40))
            try await store.recordCircuitResult(host: "b", failure: true, error: "x", settings: settings, at: date(40))
            #expect(try await store.circuits().map(\.host) == ["a", "b"])
            #expect(try await store.resetCircuits(host: "a") == 1)
            #expect(try await store.resetCircuits(host: nil) == 1)
        }
    }

    // MARK: lookups and the read model

    @Test(arguments: stores)
    func prefixesResolveToOneIdOrSayWhy(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            for (index, id) in ["7f3a10", "7f3b20", "9c", "9c0"].enumerated() { try await store.createRun(sampleRun(id: id, created: Double(index))) }
            #expect(try await store.resolveRunID(prefix: " 7f3a ") == "7f3a10")
            #expect(try await store.resolveRunID(prefix: "9c") == "9c")
            let ambiguous = try await #require(throws: StoreError.self) { try await store.resolveRunID(prefix: "7f") }
            #expect(ambiguous.code == .ambiguous)
            #expect(ambiguous.message == "'7f' matches several runs (7f3b20, 7f3a10); give more characters of the id")
            let none = try await #require(throws: StoreError.self) { try await store.resolveRunID(prefix: "zz") }
            #expect(none.code == .notFound)
            #expect(none.message == "no run id starts with 'zz' in \(store.journalLocation); list the runs with `wflo runs`")
            let empty = try await #require(throws: StoreError.self) { try await store.resolveRunID(prefix: "  ") }
            #expect(empty.message == "no run id given; list the runs with `wflo runs`")

            var approval = request("ab12cd", step: "publish")
            approval.runID = "7f3a10"
            _ = try await store.requestApproval(approval, stepType: .approval)
            #expect(try await store.resolveApprovalID("ab1") == "ab12cd")
            #expect(try await store.resolveApprovalID("7f3a/publish") == "ab12cd")
            let noStep = try await #require(throws: StoreError.self) { try await store.resolveApprovalID("7f3a/draft") }
            #expect(noStep.message == "run 7f3a10 has no approval request for step 'draft'; list them with `wflo approvals --run 7f3a10`")
            let noRequest = try await #require(throws: StoreError.self) { try await store.resolveApprovalID("ff") }
            #expect(noRequest.code == .notFound && noRequest.message.hasSuffix("list them with `wflo approvals`, or name it RUN/STEP"))
            await #expect(throws: StoreError.self) { try await store.resolveApprovalID("7f/publish") }
        }
    }

    @Test(arguments: stores)
    func activityReadsTheRunsOfAWindow(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.createRun(sampleRun(id: "early", created: 0))
            var other = sampleRun(id: "other", created: 10)
            other.workflowName = "digest"
            try await store.createRun(other)
            try await store.createRun(sampleRun(id: "late", created: 20))
            let id = try #require(try await store.beginAttempt(start("late", step: "researcher/1", reserve: "0.1")).attemptID)
            try await store.finishAttempt(finish(id, "late", step: "researcher/1", cost: "0.04"))
            try await store.recordStep(StepRecord(runID: "late", stepID: "researcher", type: .agent, status: .completed), event: nil)

            let window = try await store.activity(since: date(5), until: nil, workflow: nil)
            #expect(window.runs.map(\.id) == ["other", "late"])
            #expect(window.attempts.map(\.cost) == [money("0.04")] && window.attempts.map(\.stepID) == ["researcher/1"])
            #expect(window.agentSteps == ["late": ["researcher"]])
            #expect(try await store.activity(since: date(0), until: date(20), workflow: "brief").runs.map(\.id) == ["early"])
            #expect(try await store.activity(since: date(0), workflow: "digest").runs.map(\.id) == ["other"])
        }
    }
}
