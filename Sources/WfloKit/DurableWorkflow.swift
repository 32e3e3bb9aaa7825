import Foundation
import Synchronization
import WfloCore
import WfloEngine

/// A workflow written as a Swift function: its steps are the calls it makes on its
/// ``DurableContext``, in the order it makes them. Each call's result is journaled; running the
/// function again under the same run id replays the journal into it — finished steps return their
/// journaled result without running or charging again — and it goes on from where it stopped.
///
/// ```swift
/// let triage = DurableWorkflow("triage", budget: "0.50") { (ctx, ticket: Ticket) in
///     let summary = try await ctx.llm("summarize", model: "gpt-4o-mini", prompt: "Summarize: \(ticket.body)", maxTokens: 200)
///     let labels: [String] = try await ctx.step("classify") { classify(summary.text) }
///     if labels.contains("refund") { try await ctx.approval("refund-ok", message: "Refund \(ticket.customer)?") }
///     try await ctx.sleep("cool-down", for: .seconds(30))
///     return Triage(summary: summary.text, labels: labels)
/// }
/// let result = try await runtime.run(triage, input: ticket, runID: "t-42")   // same id: resumes
/// ```
///
/// The function must take the same path when replayed: step ids are checked against the journal
/// by call order, and a different id at a position is a ``DurableNondeterminism`` error naming
/// both. Run concurrent work through ``DurableContext/forEach(_:_:maxParallel:_:)`` or
/// ``DurableContext/parallel(_:_:)``, whose children number their calls on their own.
public struct DurableWorkflow<Input: Codable & Sendable, Output: Codable & Sendable>: Sendable {
    public let name: String
    /// The budget, as written (`"0.50"` dollars); checked when a run starts.
    public let budget: String?
    let body: @Sendable (DurableContext, Input) async throws -> Output

    /// - Parameter budget: dollars, as a decimal (`"0.50"`); nil runs with no limit.
    public init(_ name: String, budget: String? = nil, _ body: @escaping @Sendable (DurableContext, Input) async throws -> Output) {
        self.name = name
        self.budget = budget
        self.body = body
    }

    /// The budget as money.
    /// - Throws: ``WorkflowError`` naming the workflow when it is not a non-negative decimal.
    func money() throws -> Money? {
        guard let budget else { return nil }
        guard let money = Money(string: budget), !money.isNegative else {
            throw WorkflowError("durable workflow '\(name)': budget '\(budget)' is not an amount of dollars such as \"0.50\"")
        }
        return money
    }
}

/// The end of a durable function's run.
public struct DurableResult<Output: Codable & Sendable>: Sendable {
    public let runID: String
    public let status: RunStatus
    public let ledger: LedgerSnapshot
    /// What the function returned (status `completed`), as journaled.
    public let output: Output?
    /// Why it did not complete.
    public let error: String?
    /// The run as every front end reports it.
    public let run: RunResult
}

/// What a durable function's step call ends with when it does not return a value. Every one is
/// journaled, so a resumed function sees the same error at the same call.
public enum DurableError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The step failed (after its retries) or its closure threw; `message` is what it threw.
    case stepFailed(step: String, message: String)
    /// The budget refused the call before anything was sent.
    case budgetRefused(step: String, message: String)
    /// A person rejected the step (or the approval expired with `onTimeout: reject`).
    case rejected(step: String, message: String)
    /// The step waits for a decision and this runtime does not wait (``WfloRuntime`` with `approvals: .noWait`).
    case waiting(step: String)
    /// The journal holds a result the function cannot read as the type it asks for.
    case undecodable(step: String, message: String)

    public var description: String {
        switch self {
        case .stepFailed(let step, let message): "step '\(step)' failed: \(message)"
        case .budgetRefused(let step, let message): "step '\(step)' \(message)"
        case .rejected(let step, let message): "step '\(step)' was \(message)"
        case .waiting(let step): "step '\(step)' waits for a decision"
        case .undecodable(let step, let message): "step '\(step)': the journaled result does not decode: \(message)"
        }
    }
}

/// A model call's answer.
public struct LLMReply: Sendable, Hashable {
    public let text: String
    /// The model that answered, as the provider names it.
    public let model: String
    /// What the call cost (zero when served from the cache).
    public let cost: Money
    public let cacheHit: Bool
    /// The parsed JSON answer, when `json: true` was asked for.
    public let json: JSONValue?
    /// The step's whole journaled output.
    public let output: JSONValue

    init(_ output: JSONValue) {
        self.output = output
        text = output["text"]?.stringValue ?? ""
        model = output["model"]?.stringValue ?? ""
        cost = output["cost_usd"]?.stringValue.flatMap { Money(string: $0) } ?? .zero
        cacheHit = output["cache_hit"]?.boolValue ?? false
        json = output["json"]
    }
}

/// An http call of a durable function. The url, query and header values may use
/// `{{secrets.NAME}}` (never journaled in clear); the user's egress policy applies.
public struct DurableHTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var query: [String: String]
    public var headers: [String: String]
    public var json: JSONValue?
    public var expectStatus: [Int]
    /// Where the call may connect: nil allows public hosts only, as a workflow file without `egress:`.
    public var egress: EgressPolicy?

    public init(method: String, url: String, query: [String: String] = [:], headers: [String: String] = [:], json: JSONValue? = nil,
                expectStatus: [Int] = [], egress: EgressPolicy? = nil) {
        self.method = method
        self.url = url
        self.query = query
        self.headers = headers
        self.json = json
        self.expectStatus = expectStatus
        self.egress = egress
    }

    public static func get(_ url: String, query: [String: String] = [:], headers: [String: String] = [:], egress: EgressPolicy? = nil) -> Self {
        Self(method: "GET", url: url, query: query, headers: headers, egress: egress)
    }

    public static func post(_ url: String, json: JSONValue, headers: [String: String] = [:], egress: EgressPolicy? = nil) -> Self {
        Self(method: "POST", url: url, headers: headers, json: json, egress: egress)
    }
}

/// What a durable function calls. Every call names its step; ids are unique within a run.
public final class DurableContext: Sendable {
    let session: DurableRun
    /// Prepended to step ids: "" for the function, `ID[INDEX]/` for a child of ``forEach(_:_:maxParallel:_:)``.
    let prefix: String
    /// Prepended to call positions: "" for the function, `CALL[INDEX].` for a child.
    let callPrefix: String
    private let calls = Mutex(0)

    init(session: DurableRun, prefix: String = "", callPrefix: String = "") {
        self.session = session
        self.prefix = prefix
        self.callPrefix = callPrefix
    }

    /// The run's id.
    public var runID: String { session.runID }

    private func enter(_ id: String) async throws -> (stepID: String, call: String) {
        guard !id.isEmpty, !id.contains("/"), !id.contains("["), !id.contains("]") else {
            throw WorkflowError("step id '\(id)': use a non-empty id without '/', '[' or ']'")
        }
        let call = callPrefix + String(calls.withLock { count in
            defer { count += 1 }
            return count
        })
        let stepID = prefix + id
        try await session.enter(call: call, stepID: stepID)
        return (stepID, call)
    }

    // MARK: steps computed here

    /// Runs `body` once per run: its result is journaled and returned from the journal on every
    /// later run with the same id. What `body` throws is journaled too (as its description) and
    /// thrown again as ``DurableError/stepFailed(step:message:)`` — the first time and on resume
    /// alike — after `retry`'s attempts (one by default).
    public func step<T: Codable & Sendable>(_ id: String, retry: RetryPolicy = .none, _ body: @Sendable () async throws -> T) async throws -> T {
        let (stepID, _) = try await enter(id)
        if let end = session.journaledEnd(of: stepID) { return try Self.value(end, stepID) }
        let started = session.now
        var attempt = 1
        while true {
            let value: T
            do {
                value = try await body()
            } catch let error as CancellationError {
                throw error
            } catch {
                let message = "\(error)"
                if try await session.retry(stepID: stepID, attempt: attempt, policy: retry, message: message) {
                    attempt += 1
                    continue
                }
                let suffix = attempt > 1 ? " (after \(attempt) attempts)" : ""
                return try Self.value(try await session.record(stepID: stepID, result: .failure(DurableStepFailure(message + suffix)), startedAt: started),
                                      stepID)
            }
            let json: JSONValue
            do {
                json = try JSONCoding.encode(value)
            } catch {
                throw WorkflowError("step '\(stepID)': its result cannot be journaled as JSON: \(error)")
            }
            return try Self.value(try await session.record(stepID: stepID, result: .success(json), startedAt: started), stepID)
        }
    }

    // MARK: engine steps

    /// A model call, made as an `llm` step of a workflow file is: the worst case reserved against
    /// the run's budget before the request (``DurableError/budgetRefused(step:message:)`` when it
    /// does not fit; nothing is sent), the exact cost settled, the response cache read and
    /// filled, retried under `retry` (the default policy when nil).
    public func llm(_ id: String, model: String, system: String? = nil, prompt: String, maxTokens: Int, temperature: Double? = nil,
                    json: Bool = false, provider: LLMProviderKind? = nil, retry: RetryPolicy? = nil) async throws -> LLMReply {
        let (stepID, _) = try await enter(id)
        let definition = LLMStepDefinition(model: model, provider: provider, system: system.map { Template(literal: $0) },
                                           prompt: Template(literal: prompt), maxTokens: maxTokens, temperature: temperature,
                                           jsonResponse: json)
        return LLMReply(try Self.output(try await session.run(StepDefinition(id: stepID, retry: retry, kind: .llm(definition))), stepID))
    }

    /// An HTTP call, made as an `http` step is: the egress rules (the request's and the user's),
    /// secrets rendered only into what is sent, retries for idempotent methods, the response journaled.
    /// - Returns: the step's output (`status`, `headers`, `body`/`json`).
    public func http(_ id: String, _ request: DurableHTTPRequest, retry: RetryPolicy? = nil) async throws -> JSONValue {
        let (stepID, _) = try await enter(id)
        func fields(_ pairs: [String: String], _ what: String) throws -> [HTTPField] {
            try pairs.keys.sorted().map { HTTPField(name: $0, value: try Step.template(pairs[$0]!, "step '\(stepID)' \(what) '\($0)'")) }
        }
        let definition = HTTPStepDefinition(method: request.method, url: try Step.template(request.url, "step '\(stepID)' url"),
                                            query: try fields(request.query, "query"), headers: try fields(request.headers, "header"),
                                            body: request.json.map { .json(.literal($0)) }, expectStatus: request.expectStatus,
                                            egress: request.egress)
        return try Self.output(try await session.run(StepDefinition(id: stepID, retry: retry, kind: .http(definition))), stepID)
    }

    /// Waits for a person's decision (`wflo approve` / `wflo reject`) — durably: the request is
    /// journaled, a restarted program waits for the same request, and once decided the decision is
    /// journaled and never asked again. A rejection throws ``DurableError/rejected(step:message:)``.
    /// - Returns: the decision as journaled (`approved`, `decided_by`, `comment`).
    @discardableResult
    public func approval(_ id: String, message: String, settings: ApprovalSettings = ApprovalSettings()) async throws -> JSONValue {
        let (stepID, _) = try await enter(id)
        let definition = ApprovalStepDefinition(message: Template(literal: message), settings: settings)
        return try Self.output(try await session.run(StepDefinition(id: stepID, kind: .approval(definition))), stepID)
    }

    /// Waits `duration` durably: the wake-up time is journaled when the sleep starts, so a
    /// restarted program waits only what is left of it (and not at all once it has passed).
    public func sleep(_ id: String, for duration: Duration) async throws {
        let (stepID, _) = try await enter(id)
        let parts = duration.components
        let seconds = max(0, Double(parts.seconds) + Double(parts.attoseconds) / 1e18)
        _ = try Self.output(try await session.run(StepDefinition(id: stepID, kind: .sleep(SleepStepDefinition(seconds: seconds)))), stepID)
    }

    // MARK: concurrency

    /// Runs `body` for each item, at most `maxParallel` at a time; child `INDEX`'s steps are
    /// journaled as `ID[INDEX]/STEP` and each of its calls is reserved on its own. Returns the
    /// results in the items' order; when children throw, every child still ends (none is cut off
    /// mid-call) and the error of the first failing item is thrown.
    public func forEach<Item: Sendable, Result: Sendable>(_ id: String, _ items: [Item], maxParallel: Int = ForEachSettings.defaultMaxParallel,
                                                         _ body: @escaping @Sendable (DurableContext, Item) async throws -> Result) async throws -> [Result] {
        let (stepID, call) = try await enter(id)
        let width = max(1, maxParallel)
        var results = [Swift.Result<Result, any Error>?](repeating: nil, count: items.count)
        try await withThrowingTaskGroup(of: (Int, Swift.Result<Result, any Error>).self) { group in
            var next = 0
            func add() {
                let index = next
                let child = DurableContext(session: session, prefix: "\(stepID)[\(index)]/", callPrefix: "\(call)[\(index)].")
                let item = items[index]
                group.addTask {
                    do { return (index, .success(try await body(child, item))) } catch { return (index, .failure(error)) }
                }
                next += 1
            }
            while next < items.count && next < width { add() }
            while let (index, result) = try await group.next() {
                results[index] = result
                if next < items.count { add() }
            }
        }
        return try results.map { try $0!.get() }
    }

    /// Runs the branches concurrently (at most `maxParallel` at a time); branch `INDEX`'s steps
    /// are journaled as `ID[INDEX]/STEP`. Returns their results in order.
    public func parallel<Result: Sendable>(_ id: String, maxParallel: Int = ForEachSettings.defaultMaxParallel,
                                           _ branches: [@Sendable (DurableContext) async throws -> Result]) async throws -> [Result] {
        try await forEach(id, Array(branches.indices), maxParallel: maxParallel) { child, index in try await branches[index](child) }
    }

    // MARK: journal → values

    private static func output(_ end: DurableStepEnd, _ stepID: String) throws -> JSONValue {
        switch end {
        case .completed(let output): return output
        case .failed(let message): throw DurableError.stepFailed(step: stepID, message: message)
        case .refused(let message): throw DurableError.budgetRefused(step: stepID, message: message)
        case .rejected(let message): throw DurableError.rejected(step: stepID, message: message)
        case .waiting: throw DurableError.waiting(step: stepID)
        }
    }

    private static func value<T: Decodable>(_ end: DurableStepEnd, _ stepID: String) throws -> T {
        let json = try output(end, stepID)
        do {
            return try JSONCoding.decode(T.self, from: json)
        } catch {
            throw DurableError.undecodable(step: stepID, message: "\(error)")
        }
    }
}

/// Codable values to and from the journal's JSON.
enum JSONCoding {
    static func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try JSONDecoder().decode(JSONValue.self, from: try encoder.encode(value))
    }

    static func decode<T: Decodable>(_ type: T.Type, from json: JSONValue) throws -> T {
        try JSONDecoder().decode(T.self, from: try JSONEncoder().encode(json))
    }
}
