import Foundation
import WfloCore
import WfloProviders

/// The one place a paid or side-effecting call is made: llm steps, agent turns, agent tool calls
/// (which run as steps), http steps and sandbox steps all go through it.
///
/// For a step: approval gate → the kind's own check before any attempt (a cached response, an
/// egress refusal) → for each attempt: cancellation check → the kind's admission (a host's
/// circuit) → reservation of the worst case against the run's budget and every enclosing
/// limit (``StepRunner/limits``: sub-workflows' and agents' `budget:`) → the call → settlement
/// → retry under the step's ``RetryPolicy`` (the server's Retry-After, the run's deadline).
///
/// A step kind supplies only what differs — its gate request, its offers (model, worst case,
/// the call itself), and how its result or error maps into a charge or an ``AttemptFailure`` —
/// and gets back a typed ``AttemptEnd``. Every attempt's start, settlement, failure and retry is
/// journaled and announced here, through ``observeStarted(_:attempt:offer:)``,
/// ``observeSettled(_:charge:seconds:)``, ``observeFailed(_:message:)`` and
/// ``scheduleRetry(stepID:attempt:message:delay:)``: the single place spans and metrics hook in.
struct AttemptDriver: Sendable {
    let runner: StepRunner

    private var configuration: ExecutorConfiguration { runner.configuration }
    private var store: any JournalStore { runner.configuration.store }

    // MARK: a step's call

    /// Runs a step whose work is one call: the gate, then `prepare` (which may answer the step
    /// without an attempt, e.g. from the cache), then the attempts. Failures, refusals and
    /// steps answered before any attempt are journaled by the time this returns.
    func runStep(_ step: StepDefinition, startedAt started: Date, gate: GateRequest?,
                 prepare: () async throws -> StepCall) async throws -> StepOutcome {
        if let gate, let stopped = try await runner.passGate(step, details: gate.details, worstCase: gate.worstCase, preview: gate.preview) {
            return stopped
        }
        switch try await prepare() {
        case .answered(let outcome):
            return outcome
        case .attempts(let plan):
            switch try await drive(plan).end {
            case .done(let outcome):
                return outcome
            case .failed(let message):
                return .failed(message)
            case .refused(let refusals):
                let refusal = refusals.last
                return try await runner.recordRefusal(step, message: refusal?.message ?? "refused before any call", model: refusal?.model,
                                                      worstCase: refusal?.worstCase ?? .zero, at: started)
            case .unprepared(let message):
                return try await runner.recordFailure(step, message: message, model: step.kind.model, at: started)
            }
        }
    }

    // MARK: the attempts

    /// Makes attempts until one settles, the failure is final, or the budget refuses every offer.
    ///
    /// - Throws: `CancellationError` when the task is cancelled (`wflo cancel`, the run's
    ///   timeout) before an attempt, or while a call was in flight: that attempt is left in
    ///   flight, for the executor to settle at its reservation (unsettled) — it may have been billed.
    ///   Journal errors are thrown as they come.
    func drive<Value: Sendable>(_ plan: AttemptPlan<Value>) async throws -> AttemptsResult<Value> {
        var attempt = plan.firstAttempt
        var current = plan.firstOffer
        var index = plan.firstOffer
        var refusals: [AttemptRefusal] = []
        while index < plan.offerCount {
            try Task.checkCancellation()
            if let admitted = try await plan.admit?() {
                return AttemptsResult(end: .done(admitted), offer: current)
            }
            let offer: AttemptOffer<Value>
            do {
                offer = try plan.prepare(index)
            } catch let problem as AttemptUnprepared {
                return AttemptsResult(end: .unprepared(problem.message), offer: current)
            }
            let decision = try await runner.governor.reserve(stepID: plan.stepID, stepType: plan.stepType, attempt: attempt,
                                                             model: offer.model, worstCase: offer.worstCase, limits: runner.limits)
            let attemptID: Int64
            switch decision {
            case .reserved(let id):
                attemptID = id
            case .refused(let message, let scope):
                refusals.append(AttemptRefusal(model: offer.model, worstCase: offer.worstCase, message: message))
                RunTelemetry.refused(stepType: plan.stepType, model: offer.model, worstCase: offer.worstCase, scope: scope, message: message)
                index += 1
                continue
            }
            if index != current {
                try await plan.switched?(current, index, refusals)
                current = index
            }
            let attemptStart = configuration.now()
            let sendMark = RequestSendMark()
            observeStarted(plan, attempt: attempt, offer: offer)

            let made: AttemptMade<Value> = try await RunTelemetry.withAttemptSpan(
                stepID: plan.stepID, stepType: plan.stepType, attempt: attempt, model: offer.model, reserved: offer.worstCase, call: offer.span
            ) { span -> AttemptMade<Value> in
                let failure: AttemptFailure
                let result = try await RequestSendMark.$current.withValue(sendMark) { try await offer.call(attempt) }
                switch result {
                case .settled(let value, let charge):
                    let now = configuration.now()
                    // The attempt's time counts from the send: a wait for a connection is not the call's.
                    let sentAt = Self.sentAt(attemptStart, mark: sendMark, until: now)
                    var finish = AttemptFinish(attemptID: attemptID, runID: runner.runID, stepID: plan.stepID,
                                               succeeded: charge.succeeded, cost: charge.cost, usage: charge.usage,
                                               error: charge.error, stepStatus: .completed, stepOutput: charge.output,
                                               at: now, fees: charge.fees, flags: charge.flags)
                    finish.sentAt = sentAt
                    let ledger = try await store.finishAttempt(finish)
                    if plan.paid { try await runner.governor.checkAlerts(ledger) }
                    try await charge.afterSettlement?(now)
                    let seconds = now.timeIntervalSince(sentAt ?? attemptStart)
                    RunTelemetry.settled(span, stepType: plan.stepType, model: offer.model, charge: charge,
                                         provider: offer.span?.provider, seconds: seconds)
                    observeSettled(plan, charge: charge, seconds: seconds)
                    return .settled(value)
                case .failed(let problem):
                    failure = problem
                }

                // Stopped by `wflo cancel` or the run's timeout: the call may have been billed, so the
                // attempt is left in flight and settled at its reservation (unsettled), never at zero.
                if !plan.settlesCancelledCalls { try Task.checkCancellation() }
                var message = failure.message
                var final = !failure.retryable || attempt >= plan.policy.maximumAttempts
                let delay = retryDelay(policy: plan.policy, attempt: attempt, retryAfter: failure.retryAfter, final: &final, message: &message)
                var finish: AttemptFinish
                if failure.unanswered {
                    finish = .unanswered(attemptID: attemptID, runID: runner.runID, stepID: plan.stepID, error: message,
                                         stepStatus: final ? .failed : nil, at: configuration.now())
                } else {
                    finish = AttemptFinish(attemptID: attemptID, runID: runner.runID, stepID: plan.stepID, succeeded: false, cost: .zero,
                                           usage: nil, error: message, stepStatus: final ? .failed : nil,
                                           stepOutput: final ? failure.output : nil, at: configuration.now())
                }
                finish.sentAt = Self.sentAt(attemptStart, mark: sendMark, until: finish.at)
                message = finish.error ?? message
                try await store.finishAttempt(finish)
                RunTelemetry.failed(span, stepType: plan.stepType, message: message, final: final, attributes: failure.spanAttributes)
                return .failed(AttemptEnded(message: message, final: final, suffix: failure.finalSuffix, delay: delay))
            }
            let ended: AttemptEnded
            switch made {
            case .settled(let value):
                return AttemptsResult(end: .done(value), offer: current)
            case .failed(let end):
                ended = end
            }
            if ended.final {
                observeFailed(plan, message: ended.message + ended.suffix)
                return AttemptsResult(end: .failed(ended.message + ended.suffix), offer: current)
            }
            try await scheduleRetry(stepID: plan.stepID, attempt: attempt, message: ended.message, delay: ended.delay)
            attempt += 1
        }
        return AttemptsResult(end: .refused(refusals), offer: current)
    }

    /// When the attempt's request was sent, on the run's clock, if the transport marked a send
    /// after a wait (for a free pooled connection, or a new one): the attempt started at `start`
    /// plus that wait, and not after `end` (the wait is real time; a test's clock may stand still).
    /// Nil when nothing was marked (a replay, a sandbox, MCP): the call was the send.
    static func sentAt(_ start: Date, mark: RequestSendMark, until end: Date) -> Date? {
        guard let wait = mark.waitBeforeSending, wait > .zero else { return nil }
        let (seconds, attoseconds) = wait.components
        return min(start.addingTimeInterval(Double(seconds) + Double(attoseconds) / 1e18), max(start, end))
    }

    // MARK: observation (one point each)

    /// An attempt holds its reservation and its call is about to be made.
    private func observeStarted<Value: Sendable>(_ plan: AttemptPlan<Value>, attempt: Int, offer: AttemptOffer<Value>) {
        configuration.observer.observe(.stepStarted(stepID: plan.stepID, type: plan.stepType, model: offer.model, attempt: attempt,
                                                    reserved: offer.worstCase))
    }

    /// An attempt settled and completed its step.
    private func observeSettled<Value: Sendable>(_ plan: AttemptPlan<Value>, charge: AttemptCharge, seconds: Double) {
        configuration.observer.observe(.stepCompleted(stepID: plan.stepID, cost: charge.cost, usage: charge.usage, seconds: seconds))
    }

    /// An attempt failed and is not retried: its step failed.
    private func observeFailed<Value: Sendable>(_ plan: AttemptPlan<Value>, message: String) {
        configuration.observer.observe(.stepFailed(stepID: plan.stepID, error: message))
    }

    /// Journals and announces the retry after a failed attempt, then waits `delay` seconds.
    func scheduleRetry(stepID: String, attempt: Int, message: String, delay: Double) async throws {
        try await store.appendEvent(EventRecord(runID: runner.runID, stepID: stepID, kind: .retryScheduled,
                                                data: ["attempt": .int(attempt), "delay_seconds": .double(delay), "error": .string(message)],
                                                at: configuration.now()))
        configuration.observer.observe(.stepRetrying(stepID: stepID, attempt: attempt, delaySeconds: delay, error: message))
        RunTelemetry.retrying(attempt: attempt, delay: delay, reason: message)
        try await configuration.sleep(delay)
    }

    // MARK: retry timing

    /// The seconds to wait before retrying an attempt that is not `final`; when the server asks
    /// for more than the run has left, `final` becomes true and `message` says why it is not retried.
    func retryDelay(policy: RetryPolicy, attempt: Int, retryAfter: Double?, final: inout Bool, message: inout String) -> Double {
        guard !final else { return 0 }
        switch policy.wait(after: attempt, asked: retryAfter, jitter: configuration.random(),
                           remaining: runner.deadline.map { $0.timeIntervalSince(configuration.now()) }) {
        case .wait(let seconds):
            return seconds
        case .giveUp(let reason):
            final = true
            message += "; not retried: " + reason
            return 0
        }
    }
}

extension StepRunner {
    /// The driver every paid or side-effecting call of this runner goes through.
    var driver: AttemptDriver { AttemptDriver(runner: self) }
}

// MARK: - What a step kind hands the driver

/// What a gated step shows the person asked to approve it.
struct GateRequest: Sendable {
    var details: [String: JSONValue]
    var worstCase: Money?
    var preview: String?
}

/// What a step kind does once its gate is passed: answer without an attempt (a cache hit, a
/// check that fails the step before any connection), or make attempts.
enum StepCall: Sendable {
    case answered(StepOutcome)
    case attempts(AttemptPlan<StepOutcome>)
}

/// One call's attempts, as a step kind describes them.
struct AttemptPlan<Value: Sendable>: Sendable {
    /// The journal id the attempts are written under: the step's id, or an agent turn's `AGENT/TURN`.
    var stepID: String
    var stepType: StepType
    var policy: RetryPolicy
    /// The number of the first attempt made here (a resumed step goes on counting).
    var firstAttempt: Int
    /// A paid call: its settlement raises the budget's alerts.
    var paid: Bool
    /// How many offers there are: the same call on other models the budget may admit when it
    /// refuses the current one (an agent's `fallback_models`); 1 for every other kind.
    var offerCount: Int
    /// The offer tried first (the one an agent's last turn used).
    var firstOffer: Int
    /// Offer `index`, prepared for an attempt. Throws ``AttemptUnprepared`` when it cannot be
    /// (its model is not priced): nothing was reserved.
    var prepare: @Sendable (_ index: Int) throws -> AttemptOffer<Value>
    /// Asked before every attempt; a value ends the attempts with it, none made (an http step's
    /// host whose circuit is open).
    var admit: (@Sendable () async throws -> Value?)?
    /// Journals a switch from offer `from` to offer `to`, reserved after the budget refused the others.
    var switched: (@Sendable (_ from: Int, _ to: Int, _ refusals: [AttemptRefusal]) async throws -> Void)?
    /// A failed call of a cancelled task is settled as its result says (a sandbox killed by the
    /// cancel reports so) instead of being left in flight.
    var settlesCancelledCalls = false

    /// A call with one offer.
    init(stepID: String, stepType: StepType, policy: RetryPolicy, firstAttempt: Int, paid: Bool, offer: AttemptOffer<Value>,
         admit: (@Sendable () async throws -> Value?)? = nil, settlesCancelledCalls: Bool = false) {
        self.init(stepID: stepID, stepType: stepType, policy: policy, firstAttempt: firstAttempt, paid: paid, offerCount: 1, firstOffer: 0,
                  prepare: { _ in offer }, admit: admit, switched: nil, settlesCancelledCalls: settlesCancelledCalls)
    }

    init(stepID: String, stepType: StepType, policy: RetryPolicy, firstAttempt: Int, paid: Bool, offerCount: Int, firstOffer: Int,
         prepare: @escaping @Sendable (_ index: Int) throws -> AttemptOffer<Value>,
         admit: (@Sendable () async throws -> Value?)? = nil,
         switched: (@Sendable (_ from: Int, _ to: Int, _ refusals: [AttemptRefusal]) async throws -> Void)? = nil,
         settlesCancelledCalls: Bool = false) {
        self.stepID = stepID
        self.stepType = stepType
        self.policy = policy
        self.firstAttempt = firstAttempt
        self.paid = paid
        self.offerCount = offerCount
        self.firstOffer = firstOffer
        self.prepare = prepare
        self.admit = admit
        self.switched = switched
        self.settlesCancelledCalls = settlesCancelledCalls
    }
}

/// One way to make the call: the model (nil for unpriced kinds), the worst case reserved before
/// it, and the call, which maps its own result or error into an ``AttemptResult``.
struct AttemptOffer<Value: Sendable>: Sendable {
    var model: String?
    var worstCase: Money
    /// The call's span name and request attributes (nil: named after the model, or the step).
    var span: AttemptSpanInfo? = nil
    var call: @Sendable (_ attempt: Int) async throws -> AttemptResult<Value>
}

/// Thrown by ``AttemptPlan/prepare`` when an offer cannot be made (no attempt was started).
struct AttemptUnprepared: Error, Sendable {
    var message: String
}

/// How an attempt's span ended: settled with the step's value, or failed (journaled, not yet announced).
private enum AttemptMade<Value: Sendable>: Sendable {
    case settled(Value)
    case failed(AttemptEnded)
}

private struct AttemptEnded: Sendable {
    var message: String
    var final: Bool
    var suffix: String
    var delay: Double
}

/// How one call ended, as its kind reads it.
enum AttemptResult<Value: Sendable>: Sendable {
    /// The call is done and completes the step; `charge` is what the journal settles.
    case settled(Value, AttemptCharge)
    case failed(AttemptFailure)
}

/// What a completed attempt is settled at, and what its step's output is.
struct AttemptCharge: Sendable {
    var cost: Money = .zero
    var usage: TokenUsage?
    var fees: Money = .zero
    var flags: [String] = []
    var output: JSONValue
    /// False for a failed program that completes its step anyway (`allow_failure` on its last attempt).
    var succeeded = true
    var error: String?
    /// The response's attributes for the attempt's span (`gen_ai.response.*`, `http.response.status_code`).
    var spanAttributes: [String: TelemetryValue] = [:]
    /// Runs once the attempt is settled, with the settlement's time (an llm step fills the cache).
    var afterSettlement: (@Sendable (Date) async throws -> Void)?
}

/// A call that did not complete its step.
struct AttemptFailure: Error, Sendable {
    var message: String
    /// Another attempt may succeed (the policy's attempts still decide).
    var retryable: Bool
    /// Seconds the server asked to wait before the next attempt.
    var retryAfter: Double?
    /// The request was sent and no answer came: the attempt stays charged at its reservation.
    var unanswered = false
    /// The step's output when this failure ends it (a program's exit code and output).
    var output: JSONValue?
    /// Appended to the step's error when this failure ends it ("(after 3 attempts)").
    var finalSuffix = ""
    /// What the attempt's span records of it (a program's exit code and signal).
    var spanAttributes: [String: TelemetryValue] = [:]
}

/// An offer the budget refused: nothing was sent.
struct AttemptRefusal: Sendable {
    var model: String?
    var worstCase: Money
    var message: String
}

/// How a call's attempts ended.
enum AttemptEnd<Value: Sendable>: Sendable {
    /// An attempt settled with this value, or the plan's `admit` answered without one.
    case done(Value)
    /// The last attempt failed and is not retried; journaled with it. The message has its suffix.
    case failed(String)
    /// The budget refused every offer; nothing was sent.
    case refused([AttemptRefusal])
    /// An offer could not be prepared; nothing was reserved.
    case unprepared(String)
}

struct AttemptsResult<Value: Sendable>: Sendable {
    var end: AttemptEnd<Value>
    /// The offer last reserved (the first offer when none was).
    var offer: Int
}

extension AttemptFailure {
    /// A failed model call (an llm step's or an agent turn's) — the one rule for both: retried
    /// when its error is retryable and the step's `non_retryable_errors` does not name its kind;
    /// a request whose answer never came (``ProviderError/isUnanswered``) stays charged at its
    /// reservation, marked unsettled, like a call cut off by cancel or a crash; any other failure
    /// settles at zero (the provider refused it).
    init(_ error: ProviderError, policy: RetryPolicy, attempt: Int) {
        self.init(message: error.description,
                  retryable: error.isRetryable && !policy.forbidsRetry(of: error.kind),
                  retryAfter: error.retryAfter, unanswered: error.isUnanswered,
                  finalSuffix: error.isRetryable ? " (after \(attempt) attempt\(attempt == 1 ? "" : "s"))" : "")
    }
}
