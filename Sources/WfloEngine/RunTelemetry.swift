import Foundation
import Metrics
import Tracing
import WfloCore
import WfloProviders

/// Spans and metrics of a run, following the OpenTelemetry GenAI semantic conventions.
///
/// Only the API packages are used here: until a composition root bootstraps a tracer and a
/// metrics factory (WfloTelemetry does, from the OTEL_* environment), every span is the no-op
/// tracer's and every metric the no-op factory's. Spans are opened at three points only: the run
/// (``Executor``), a step (``Scheduler``, and an agent's tool call, which runs a step), and an
/// attempt (``AttemptDriver``), plus the wait for a person (``ApprovalGate``). Money goes on spans
/// as exact decimal strings, and `wflo.cost_usd` only on the attempt (leaf) spans, so summing it
/// over a trace never counts a dollar twice.
public enum RunTelemetry {
    /// The key under which a run's W3C trace context is journaled (in its `run_started` event; for a
    /// queued run, in `run_traced` at its first start unless the submitter gave one; the first
    /// `run_resumed` when it started without one).
    public static let traceparentKey = "traceparent"

    /// The step span the current task runs under: the attempt driver adds budget refusals and
    /// retries to it as events.
    @TaskLocal static var stepSpan: (any Span)?
    /// The workflow the current task runs for (a metric dimension).
    @TaskLocal static var workflowName = ""

    // MARK: trace context

    /// The W3C `traceparent` of `context`, or nil when no tracer is bootstrapped (the no-op
    /// tracer injects nothing) or `context` holds no span.
    public static func traceparent(of context: InstrumentationContext) -> String? {
        var headers: [String: String] = [:]
        InstrumentationSystem.instrument.inject(context, into: &headers, using: HeaderDictionary())
        return headers["traceparent"]
    }

    /// A context whose parent span is the one `traceparent` names (nothing with the no-op tracer).
    public static func context(traceparent: String) -> InstrumentationContext {
        var context = InstrumentationContext.topLevel
        InstrumentationSystem.instrument.extract(["traceparent": traceparent], into: &context, using: HeaderDictionary())
        return context
    }

    /// Whether `text` is a W3C trace context header value: `00-<32 hex>-<16 hex>-<2 hex>`, ids not all zero.
    public static func isValidTraceparent(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "00", parts[1].count == 32, parts[2].count == 16, parts[3].count == 2 else { return false }
        let hex = Set("0123456789abcdef")
        guard parts.dropFirst().allSatisfy({ $0.allSatisfy(hex.contains) }) else { return false }
        return parts[1].contains { $0 != "0" } && parts[2].contains { $0 != "0" }
    }

    /// A caller's trace context as given (`--traceparent`, `TRACEPARENT`, the API's `traceparent`
    /// header, named by `origin`): nil when blank, the value when valid.
    /// - Throws: ``TraceparentError`` naming `origin` and the expected form.
    public static func checkedTraceparent(_ given: String?, origin: String) throws(TraceparentError) -> String? {
        guard let value = given?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        guard isValidTraceparent(value) else {
            throw TraceparentError(message: "\(origin) '\(value)' is not a W3C traceparent: give 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>, "
                                   + "e.g. 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        }
        return value
    }

    /// The trace context journaled with a run, if any.
    static func journaledTraceparent(_ journal: RunJournal) -> String? {
        journal.events.lazy.compactMap { $0.data[traceparentKey]?.stringValue }.first
    }

    /// Adds the current span's `traceparent` to an outgoing request's headers (an http step).
    static func injectTraceparent(into headers: inout [HTTPExchange.Header]) {
        guard let context = InstrumentationContext.current, let value = traceparent(of: context) else { return }
        headers.removeAll { $0.name.lowercased() == "traceparent" }
        headers.append(HTTPExchange.Header("traceparent", value))
    }

    // MARK: the run

    /// Runs `body` under the run's root span, `invoke_workflow {workflow}`. `parent` is the span
    /// the run continues (journaled before a restart, or the caller's); `body` is given the root's
    /// own `traceparent` to journal.
    static func withRunSpan(workflow: String, runID: String, budget: Money?, parent: InstrumentationContext?,
                            _ body: (_ traceparent: String?) async throws -> RunResult) async throws -> RunResult {
        let runs = Meter(label: "wflo_runs", dimensions: [("status", "running")])
        runs.increment()
        defer { runs.decrement() }
        return try await withSpan("invoke_workflow \(workflow)", context: parent ?? .current ?? .topLevel, ofKind: .internal) { span in
            span.attributes["gen_ai.operation.name"] = "invoke_workflow"
            span.attributes["gen_ai.workflow.name"] = workflow
            span.attributes["wflo.run.id"] = runID
            if let budget { span.attributes["wflo.budget_usd"] = budget.description }
            let result = try await RunTelemetry.$workflowName.withValue(workflow) {
                try await body(traceparent(of: span.context))
            }
            span.attributes["wflo.spent_usd"] = result.ledger.committed.description
            span.attributes["wflo.run.status"] = result.status.rawValue
            switch result.status {
            case .completed, .waitingApproval: break
            default: span.setStatus(SpanStatus(code: .error, message: result.error))
            }
            Counter(label: "wflo_runs_finished_total", dimensions: [("workflow", workflow), ("status", result.status.rawValue)]).increment()
            return result
        }
    }

    // MARK: a step

    /// What a step span is: a workflow's step (with its for_each index), or an agent's tool call.
    enum StepRole: Sendable {
        case step(index: Int?)
        case tool(name: String, callID: String)
    }

    /// Runs one step under its span: `invoke_agent {id}` for an agent, `execute_tool {tool}` for
    /// an agent's tool call, else `step {id}`; the attempts are its children.
    static func withStepSpan(_ step: StepDefinition, role: StepRole = .step(index: nil),
                             _ body: () async throws -> StepOutcome) async throws -> StepOutcome {
        let name: String
        switch role {
        case .tool(let tool, _): name = "execute_tool \(tool)"
        case .step where step.type == .agent: name = "invoke_agent \(step.id)"
        case .step: name = "step \(step.id)"
        }
        return try await withSpan(name, ofKind: .internal) { span in
            span.attributes["wflo.step.id"] = step.id
            span.attributes["wflo.step.type"] = step.type.rawValue
            switch role {
            case .step(let index?):
                span.attributes["wflo.for_each.index"] = index
            case .step:
                if step.type == .agent {
                    span.attributes["gen_ai.operation.name"] = "invoke_agent"
                    span.attributes["gen_ai.agent.name"] = step.id
                }
            case .tool(let tool, let callID):
                span.attributes["gen_ai.operation.name"] = "execute_tool"
                span.attributes["gen_ai.tool.name"] = tool
                span.attributes["gen_ai.tool.call.id"] = callID
            }
            let outcome = try await $stepSpan.withValue(span) { try await body() }
            switch outcome {
            case .completed: span.attributes["wflo.step.status"] = "completed"
            case .skipped: span.attributes["wflo.step.status"] = "skipped"
            case .waiting: span.attributes["wflo.step.status"] = "waiting_approval"
            case .failed(let message):
                span.attributes["wflo.step.status"] = "failed"
                span.setStatus(SpanStatus(code: .error, message: message))
            case .rejected(let message):
                span.attributes["wflo.step.status"] = "rejected"
                span.setStatus(SpanStatus(code: .error, message: message))
            case .refused(let message):
                span.attributes["wflo.step.status"] = "budget_exceeded"
                span.setStatus(SpanStatus(code: .error, message: message))
            }
            return outcome
        }
    }

    /// A step answered from the response cache: no attempt, no span of its own.
    static func cacheHit(saved: Money) {
        stepSpan?.attributes["wflo.cache_hit"] = true
        stepSpan?.attributes["wflo.cache_saved_usd"] = saved.description
        Counter(label: "wflo_cache_hits_total", dimensions: [("workflow", workflowName)]).increment()
        FloatingPointCounter(label: "wflo_cache_saved_usd_total", dimensions: [("workflow", workflowName)]).increment(by: saved.metricValue)
    }

    // MARK: an attempt

    /// Runs one attempt's call under its span: `chat {model}` for a model call, the method for an
    /// http call (a client span), else `{type} {step}`.
    static func withAttemptSpan<T: Sendable>(stepID: String, stepType: StepType, attempt: Int, model: String?, reserved: Money,
                                            call: AttemptSpanInfo?, _ body: (any Span) async throws -> T) async throws -> T {
        let name = call?.name ?? (model.map { "chat \($0)" } ?? "\(stepType.rawValue) \(stepID)")
        let kind: SpanKind = call?.isClient ?? (model != nil) ? .client : .internal
        Meter(label: "wflo_reserved_usd", dimensions: [("workflow", workflowName)]).increment(by: reserved.metricValue)
        defer { Meter(label: "wflo_reserved_usd", dimensions: [("workflow", workflowName)]).decrement(by: reserved.metricValue) }
        return try await withSpan(name, ofKind: kind) { span in
            // The no-op tracer's span keeps nothing: no attribute is worked out for it (money's text is not free).
            guard span.isRecording else { return try await body(span) }
            span.attributes["wflo.step.id"] = stepID
            span.attributes["wflo.attempt"] = attempt
            span.attributes["wflo.reserved_usd"] = reserved.description
            if let model {
                span.attributes["gen_ai.operation.name"] = "chat"
                span.attributes["gen_ai.request.model"] = model
                span.attributes["wflo.cache_hit"] = false
            }
            for (key, value) in call?.attributes ?? [:] { span.attributes[key] = value.spanValue }
            return try await body(span)
        }
    }

    /// Records a settled attempt on its span and in the metrics: the exact cost, the usage.
    static func settled(_ span: any Span, stepType: StepType, model: String?, charge: AttemptCharge, provider: String?, seconds: Double) {
        if span.isRecording {
            span.attributes["wflo.cost_usd"] = charge.cost.description
            if charge.fees != .zero { span.attributes["wflo.fees_usd"] = charge.fees.description }
            if !charge.flags.isEmpty { span.attributes["wflo.flags"] = charge.flags }
            for (key, value) in charge.spanAttributes { span.attributes[key] = value.spanValue }
        }
        Counter(label: "wflo_attempts_total", dimensions: [("kind", stepType.rawValue), ("outcome", "settled")]).increment()
        guard let model else { return }
        if let usage = charge.usage, span.isRecording {
            span.attributes["gen_ai.usage.input_tokens"] = usage.inputTokens
            span.attributes["gen_ai.usage.output_tokens"] = usage.outputTokens
            span.attributes["gen_ai.usage.cache_read.input_tokens"] = usage.cachedInputTokens
            span.attributes["gen_ai.usage.cache_creation.input_tokens"] = usage.cacheWriteTokens + usage.cacheWrite1hTokens
        }
        let provider = provider ?? ""
        let dimensions = [("gen_ai.operation.name", "chat"), ("gen_ai.provider.name", provider), ("gen_ai.request.model", model)]
        FloatingPointCounter(label: "wflo_cost_usd_total", dimensions: [("workflow", workflowName), ("model", model), ("provider", provider)])
            .increment(by: charge.cost.metricValue)
        if let usage = charge.usage {
            Recorder(label: "gen_ai.client.token.usage", dimensions: dimensions + [("gen_ai.token.type", "input")], aggregate: true)
                .record(usage.inputTokens)
            Recorder(label: "gen_ai.client.token.usage", dimensions: dimensions + [("gen_ai.token.type", "output")], aggregate: true)
                .record(usage.outputTokens)
        }
        Recorder(label: "gen_ai.client.operation.duration", dimensions: dimensions, aggregate: true).record(seconds)
    }

    /// Records a failed attempt: the span's error, and the metric (`retried` or `failed`).
    static func failed(_ span: any Span, stepType: StepType, message: String, final: Bool, attributes: [String: TelemetryValue]) {
        span.setStatus(SpanStatus(code: .error, message: message))
        for (key, value) in attributes { span.attributes[key] = value.spanValue }
        span.attributes["error.type"] = final ? "wflo.attempt_failed" : "wflo.attempt_retried"
        Counter(label: "wflo_attempts_total", dimensions: [("kind", stepType.rawValue), ("outcome", final ? "failed" : "retried")]).increment()
    }

    /// A budget refused an offer: an event on the step span with the numbers; nothing was sent.
    static func refused(stepType: StepType, model: String?, worstCase: Money, scope: String, message: String) {
        var attributes: SpanAttributes = [:]
        attributes["wflo.budget.scope"] = scope
        attributes["wflo.worst_case_usd"] = worstCase.description
        attributes["wflo.refusal"] = message
        if let model { attributes["gen_ai.request.model"] = model }
        stepSpan?.addEvent(SpanEvent(name: "wflo.budget_refused", attributes: attributes))
        Counter(label: "wflo_budget_refusals_total", dimensions: [("workflow", workflowName), ("scope", scope)]).increment()
        Counter(label: "wflo_attempts_total", dimensions: [("kind", stepType.rawValue), ("outcome", "refused")]).increment()
    }

    /// An attempt failed and another follows: an event on the step span with the reason.
    static func retrying(attempt: Int, delay: Double, reason: String) {
        var attributes: SpanAttributes = [:]
        attributes["wflo.attempt"] = attempt
        attributes["wflo.retry.delay_seconds"] = delay
        attributes["wflo.retry.reason"] = reason
        stepSpan?.addEvent(SpanEvent(name: "wflo.retry", attributes: attributes))
    }

    // MARK: approvals

    /// Runs the wait for a person's decision under a span `await_approval {step}`, with the decider.
    static func withApprovalSpan(_ request: ApprovalRecord, _ body: () async throws -> ApprovalGate.Result) async throws -> ApprovalGate.Result {
        try await withSpan("await_approval \(request.stepID)", ofKind: .internal) { span in
            span.attributes["wflo.step.id"] = request.stepID
            span.attributes["wflo.approval.id"] = request.id
            let pending = Meter(label: "wflo_approvals_pending", dimensions: [])
            pending.increment()
            defer { pending.decrement() }
            let result = try await body()
            let record: ApprovalRecord
            switch result {
            case .approved(let decided), .rejected(let decided), .expired(let decided), .waiting(let decided): record = decided
            }
            span.attributes["wflo.approval.status"] = record.status.rawValue
            if let by = record.decidedBy { span.attributes["wflo.approval.decided_by"] = by }
            return result
        }
    }
}

/// What a step kind tells the attempt driver about its call's span: the name, whether it is a
/// client call, and the request's attributes (`gen_ai.request.*`, `http.request.method`, `url.full`).
struct AttemptSpanInfo: Sendable {
    var name: String
    var isClient: Bool
    var attributes: [String: TelemetryValue]
    /// A model call's provider (`gen_ai.provider.name`, a metric dimension).
    var provider: String? = nil
}

/// A span attribute's value, Sendable, as step kinds hand them over.
enum TelemetryValue: Sendable, Equatable {
    case string(String)
    case int(Int)
    case double(Double)
    case strings([String])

    var spanValue: SpanAttribute {
        switch self {
        case .string(let value): .string(value)
        case .int(let value): .int64(Int64(value))
        case .double(let value): .double(value)
        case .strings(let value): .stringArray(value)
        }
    }
}

/// The request and response attributes of a model call, shared by llm steps and agent turns.
extension AttemptSpanInfo {
    static func chat(model: String, provider: String, maxTokens: Int, temperature: Double?) -> AttemptSpanInfo {
        var attributes: [String: TelemetryValue] = [
            "gen_ai.provider.name": .string(provider),
            "gen_ai.request.max_tokens": .int(maxTokens),
        ]
        if let temperature { attributes["gen_ai.request.temperature"] = .double(temperature) }
        return AttemptSpanInfo(name: "chat \(model)", isClient: true, attributes: attributes, provider: provider)
    }

    static func chatResponse(model: String, finishReason: String, pricingSource: String?) -> [String: TelemetryValue] {
        var attributes: [String: TelemetryValue] = [
            "gen_ai.response.model": .string(model),
            "gen_ai.response.finish_reasons": .strings([finishReason]),
        ]
        if let pricingSource { attributes["wflo.pricing.version"] = .string(pricingSource) }
        return attributes
    }
}

extension Money {
    /// The amount as a Double, for metrics only (spans and the journal keep the exact decimal).
    var metricValue: Double { Double(description) ?? 0 }
}

/// Headers as a dictionary, for injecting and extracting a W3C trace context.
struct HeaderDictionary: Injector, Extractor {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
}

/// A trace context that is not a W3C `traceparent` (``RunTelemetry/checkedTraceparent(_:origin:)``).
public struct TraceparentError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
