import Foundation
import Testing
import WfloCore

private func usd(_ text: String) -> Money {
    guard let money = Money(string: text) else { preconditionFailure("not an amount: \(text)") }
    return money
}

private let t0 = Date(timeIntervalSince1970: 1_700_000_000)

struct AttemptAdmissionTests {
    private let limit = BudgetLimit(prefix: "enrich/", budget: usd("0.5"), label: "workflow step 'enrich'")

    @Test func aCancelRequestRefusesBeforeTheBudgetIsLookedAt() {
        let ledger = LedgerSnapshot(settled: .zero, reserved: .zero, budget: usd("1"))
        let refusal = AttemptAdmission.refusal(ledger: ledger, cancelRequested: true, reserve: .zero, limits: [limit]) { _ in
            Issue.record("a cancelled run's limits were read")
            return .zero
        }
        #expect(refusal == .runCancelled)
    }

    @Test func theRunBudgetRefusesBeforeAnyLimitIsRead() {
        let ledger = LedgerSnapshot(settled: usd("0.6"), reserved: usd("0.3"), budget: usd("1"))
        let refusal = AttemptAdmission.refusal(ledger: ledger, cancelRequested: false, reserve: usd("0.2"), limits: [limit]) { _ in
            Issue.record("limits were read for a reservation the run's budget refuses")
            return .zero
        }
        #expect(refusal == .refused(ledger: ledger, requested: usd("0.2")))
    }

    @Test(arguments: [("0.4", "0.1", true), ("0.4", "0.1000001", false), ("0.5", "0", true), ("0", "0.5", true), ("0", "0.51", false)])
    func aLimitHoldsUpToItsBudget(committed: String, reserve: String, admitted: Bool) {
        let ledger = LedgerSnapshot(settled: .zero, reserved: .zero, budget: nil)
        let refusal = AttemptAdmission.refusal(ledger: ledger, cancelRequested: false, reserve: usd(reserve), limits: [limit]) { seen in
            #expect(seen == limit)
            return usd(committed)
        }
        #expect(refusal == (admitted ? nil : .refusedByLimit(limit: limit, committed: usd(committed), requested: usd(reserve))))
    }

    @Test func theFirstLimitThatDoesNotFitRefuses() {
        let outer = BudgetLimit(prefix: "a/", budget: usd("1"), label: "outer")
        let inner = BudgetLimit(prefix: "a/b/", budget: usd("0.1"), label: "inner")
        let refusal = AttemptAdmission.refusal(ledger: LedgerSnapshot(settled: .zero, reserved: .zero, budget: nil), cancelRequested: false,
                                               reserve: usd("0.2"), limits: [outer, inner]) { $0 == outer ? usd("0.5") : .zero }
        #expect(refusal == .refusedByLimit(limit: inner, committed: .zero, requested: usd("0.2")))
    }

    @Test func aLimitCoversTheStepsUnderItsPrefixAndTheirRangeIsExact() throws {
        #expect(limit.covers(stepID: "enrich/a") && limit.covers(stepID: "enrich/batch[2]/x"))
        #expect(!limit.covers(stepID: "enrich") && !limit.covers(stepID: "enrichment") && !limit.covers(stepID: "enrich0/a"))
        let range = try #require(limit.stepIDRange)
        #expect(range.lower == "enrich/" && range.upper == "enrich0")
        // Every covered id sorts inside the range (code-point order, as SQLite compares TEXT), every other outside.
        for id in ["enrich/", "enrich/a", "enrich/\u{10FFFF}", "enrich0", "enrich", "enrich.x", "enrichment"] {
            let inside = id.unicodeScalars.lexicographicallyPrecedes(range.upper.unicodeScalars)
                && !id.unicodeScalars.lexicographicallyPrecedes(range.lower.unicodeScalars)
            #expect(inside == limit.covers(stepID: id), "\(id)")
        }
        #expect(BudgetLimit(prefix: "", budget: .zero, label: "none").stepIDRange == nil)
    }

    @Test func whatALimitCountsIsEachAttemptAsCharged() {
        func attempt(_ step: String, _ status: AttemptStatus, reserved: String, cost: String?) -> AttemptRecord {
            AttemptRecord(id: 1, runID: "r", stepID: step, number: 1, status: status, model: nil, reserved: usd(reserved),
                          cost: cost.map(usd), usage: nil, error: nil, startedAt: t0, finishedAt: nil)
        }
        let attempts = [attempt("enrich/a", .succeeded, reserved: "0.4", cost: "0.1"),
                        attempt("enrich/b", .running, reserved: "0.2", cost: nil),
                        attempt("enrich/c", .unsettled, reserved: "0.05", cost: nil),
                        attempt("enrich/d", .failed, reserved: "0.3", cost: nil),
                        attempt("other", .running, reserved: "9", cost: nil)]
        #expect(limit.committed(by: attempts) == usd("0.35"))
    }
}

struct AttemptSettlementTests {
    private let ledger = LedgerSnapshot(settled: usd("0.1"), reserved: usd("0.5"), budget: usd("1"))

    private func finish(succeeded: Bool = true, cost: String = "0.03", step: StepStatus? = .completed, flags: [String] = []) -> AttemptFinish {
        AttemptFinish(attemptID: 7, runID: "r", stepID: "s", succeeded: succeeded, cost: usd(cost), usage: nil, error: succeeded ? nil : "HTTP 500",
                      stepStatus: step, stepOutput: nil, at: t0, flags: flags)
    }

    @Test func theCostReplacesTheReservation() throws {
        let settlement = try #require(AttemptSettlement.settling(finish(), current: .running, reserved: usd("0.2"), ledger: ledger))
        #expect(settlement.status == .succeeded)
        #expect(settlement.ledger == LedgerSnapshot(settled: usd("0.13"), reserved: usd("0.3"), budget: usd("1")))
        #expect(settlement.event == EventRecord(runID: "r", stepID: "s", kind: .stepCompleted, data: ["attempt_id": 7, "cost_usd": "0.03"], at: t0))
    }

    @Test(arguments: [AttemptStatus.succeeded, .failed, .unsettled])
    func anAttemptNoLongerRunningIsNotChargedAgain(current: AttemptStatus) {
        #expect(AttemptSettlement.settling(finish(), current: current, reserved: usd("0.2"), ledger: ledger) == nil)
    }

    @Test func anUnansweredCallKeepsItsReservation() throws {
        let unanswered = AttemptFinish.unanswered(attemptID: 7, runID: "r", stepID: "s", error: "timed out", stepStatus: nil, at: t0)
        let settlement = try #require(AttemptSettlement.settling(unanswered, current: .running, reserved: usd("0.2"), ledger: ledger))
        #expect(settlement.status == .unsettled && settlement.ledger == ledger)
        #expect(settlement.event.kind == .attemptFailed && settlement.event.data["unsettled"] == true)
        #expect(settlement.event.data["reserved_usd"] == "0.2" && settlement.event.data["cost_usd"] == nil)
    }

    @Test func unpricedUsageStopsTheRunAndAnEarlierReasonIsKept() throws {
        let flags = [AttemptFlag.unpricedUsage("audio_tokens")]
        let stopped = try #require(AttemptSettlement.settling(finish(flags: flags), current: .running, reserved: usd("0.2"), ledger: ledger))
        #expect(stopped.ledger.stopReason == AttemptFlag.stopReason(flags: flags))
        #expect(stopped.event.data["flags"] == ["unpriced_usage:audio_tokens"])
        var earlier = ledger
        earlier.stopReason = "earlier"
        let kept = try #require(AttemptSettlement.settling(finish(flags: flags), current: .running, reserved: usd("0.2"), ledger: earlier))
        #expect(kept.ledger.stopReason == "earlier")
    }

    @Test func aFailedAttemptThatDoesNotDecideItsStepWritesItsOwnEvent() throws {
        let settlement = try #require(AttemptSettlement.settling(finish(succeeded: false, cost: "0", step: nil), current: .running,
                                                                 reserved: usd("0.2"), ledger: ledger))
        #expect(settlement.status == .failed && settlement.event.kind == .attemptFailed && settlement.event.data["error"] == "HTTP 500")
    }
}

struct ApprovalTransitionTests {
    private func request(timeout: Double? = 60, onTimeout: ApprovalTimeoutAction = .reject, status: ApprovalStatus = .pending) -> ApprovalRecord {
        ApprovalRecord(id: "a1", runID: "r", stepID: "publish", status: status, message: "Publish?",
                       settings: ApprovalSettings(timeout: timeout, onTimeout: onTimeout), requestedAt: t0)
    }

    @Test func aDecisionBeforeTheDeadlineIsRecorded() {
        let decision = ApprovalDecision(requestID: "a1", verdict: .approve, by: "ana", comment: "ok", at: t0.addingTimeInterval(59))
        guard case .decide(let record, let event, let outcome) = request().deciding(decision) else {
            Issue.record("not recorded")
            return
        }
        #expect(record.status == .approved && record.decidedBy == "ana" && record.comment == "ok" && record.decidedAt == decision.at)
        #expect(outcome == .recorded(record))
        #expect(event == EventRecord(runID: "r", stepID: "publish", kind: .approvalDecided,
                                     data: ["request_id": "a1", "decision": "approved", "by": "ana", "comment": "ok"], at: decision.at))
    }

    @Test(arguments: ApprovalTimeoutAction.allCases)
    func aDecisionAtOrAfterTheDeadlineRecordsOnTimeout(action: ApprovalTimeoutAction) {
        let decision = ApprovalDecision(requestID: "a1", verdict: .reject, by: "ana", at: t0.addingTimeInterval(60))
        guard case .decide(let record, _, let outcome) = request(onTimeout: action).deciding(decision) else {
            Issue.record("nothing recorded")
            return
        }
        let expected: ApprovalStatus = switch action {
        case .approve: .approved
        case .reject: .rejected
        case .fail: .expired
        }
        #expect(record.status == expected && record.decidedBy == approvalTimeoutDecider)
        #expect(record.decidedAt == t0.addingTimeInterval(60))
        #expect(record.comment == "nobody decided within \(DurationText.describe(60)); on_timeout: \(action.rawValue)")
        #expect(outcome == .alreadyDecided(record))
    }

    @Test func aTimeoutAskedForEarlyOrADecidedRequestChangesNothing() {
        let early = ApprovalDecision(requestID: "a1", verdict: .timeout, by: "wflo", at: t0.addingTimeInterval(59))
        #expect(request().deciding(early) == .unchanged(request()))
        let noDeadline = ApprovalDecision(requestID: "a1", verdict: .timeout, by: "wflo", at: t0.addingTimeInterval(1e9))
        #expect(request(timeout: nil).deciding(noDeadline) == .unchanged(request(timeout: nil)))
        let decided = request(status: .rejected)
        #expect(decided.deciding(ApprovalDecision(requestID: "a1", verdict: .approve, by: "bo", at: t0)) == .unchanged(decided))
    }
}

struct RunClaimTests {
    private let holder = RunOwner(pid: 1, host: "h", token: "a")
    private let claimant = RunOwner(pid: 2, host: "h", token: "b")

    @Test func nobodyOrTheSameTokenClaimsWithoutAsking() {
        #expect(RunClaim.deciding(holder: nil, heartbeatAt: nil, claimant: claimant) { _, _ in
            Issue.record("asked about no holder")
            return false
        } == .claimed)
        #expect(RunClaim.deciding(holder: claimant, heartbeatAt: t0, claimant: claimant) { _, _ in false } == .claimed)
    }

    @Test func anotherHolderKeepsTheRunUnlessItIsGone() {
        #expect(RunClaim.deciding(holder: holder, heartbeatAt: t0, claimant: claimant) { _, _ in false } == .heldBy(holder, heartbeatAt: t0))
        #expect(RunClaim.deciding(holder: holder, heartbeatAt: nil, claimant: claimant) { seen, heartbeat in
            seen == holder && heartbeat == Date(timeIntervalSince1970: 0)
        } == .claimed)
    }
}

struct CacheEntryRuleTests {
    private func entry(namespace: String = "a", created: Double = 0, ttl: Double? = nil) -> CacheEntry {
        CacheEntry(key: "k", namespace: namespace, model: "m", response: .null, createdAt: t0.addingTimeInterval(created),
                   expiresAt: ttl.map { t0.addingTimeInterval(created + $0) })
    }

    @Test func anEntryIsLiveUntilItsExpiry() {
        #expect(entry(ttl: 10).isLive(at: t0.addingTimeInterval(9.999)))
        #expect(!entry(ttl: 10).isLive(at: t0.addingTimeInterval(10)))
        #expect(entry().isLive(at: .distantFuture))
    }

    @Test func clearingChoosesByAgeAndNamespaceAndAlwaysTakesTheExpired() {
        let now = t0.addingTimeInterval(100)
        #expect(entry().isCleared(olderThan: nil, namespace: nil, at: now))
        #expect(entry().isCleared(olderThan: t0.addingTimeInterval(1), namespace: "a", at: now))
        #expect(!entry().isCleared(olderThan: t0, namespace: nil, at: now))
        #expect(!entry().isCleared(olderThan: nil, namespace: "b", at: now))
        #expect(entry(ttl: 5).isCleared(olderThan: nil, namespace: "b", at: now))
    }
}

/// `wflo resume` goes on the way the run started unless told otherwise (one rule, for every front end).
struct RunModeContinuationTests {
    static let started = RunMode(replay: "/c/brief.json", record: nil, noCache: true, pricing: ["/p/extra.json"])

    @Test func whatTheResumeLeavesUnsaidComesFromTheJournal() {
        #expect(Self.started.continued(by: RunMode()) == Self.started)
    }

    @Test func aRecordingGivenReplacesTheJournaledCassetteAndPricingGivenReplacesItsFiles() {
        let given = RunMode(record: "/c/new.json", pricing: ["/p/mine.json"])
        #expect(Self.started.continued(by: given) == RunMode(replay: nil, record: "/c/new.json", noCache: true, pricing: ["/p/mine.json"]))
    }

    @Test func theCacheStaysOffIfEitherSaysSo() {
        #expect(RunMode().continued(by: RunMode(noCache: true)).noCache)
        #expect(RunMode(noCache: true).continued(by: RunMode()).noCache)
        #expect(!RunMode().continued(by: RunMode()).noCache)
    }
}
