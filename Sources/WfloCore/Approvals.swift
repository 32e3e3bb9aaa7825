import Foundation

/// What happens to an approval request nobody decided before its deadline.
public enum ApprovalTimeoutAction: String, Sendable, Hashable, Codable, CaseIterable {
    /// Recorded as rejected by `wflo (timeout)`: the run ends `rejected`.
    case reject
    /// Recorded as approved by `wflo (timeout)`: the step goes on.
    case approve
    /// Recorded as expired: the step fails, and so does the run.
    case fail
}

/// Who may decide, how long they have, and what a missed deadline means. Used by `approval`
/// steps, by `approval: required` on any step, and by a workflow's `approval_policy`.
public struct ApprovalSettings: Sendable, Hashable, Codable {
    /// Names allowed to decide; empty means anyone who can write the journal.
    public var approvers: [String]
    /// Seconds from the request to its deadline; nil waits for ever.
    public var timeout: Double?
    public var onTimeout: ApprovalTimeoutAction

    public init(approvers: [String] = [], timeout: Double? = nil, onTimeout: ApprovalTimeoutAction = .reject) {
        self.approvers = approvers
        self.timeout = timeout
        self.onTimeout = onTimeout
    }
}

/// An `approval` step: a person reads `message` and decides; its output is the decision.
public struct ApprovalStepDefinition: Sendable, Hashable, Codable {
    public var message: Template
    public var settings: ApprovalSettings

    public init(message: Template, settings: ApprovalSettings = ApprovalSettings()) {
        self.message = message
        self.settings = settings
    }
}

/// How risky a step is, as its author says (`risk: high`); an `approval_policy` gates high ones.
public enum StepRisk: String, Sendable, Hashable, Codable, CaseIterable {
    case low, medium, high
}

/// A workflow-level rule that gates risky steps without marking each one.
public struct ApprovalPolicy: Sendable, Hashable, Codable {
    /// Gate any step whose worst-case cost is above this.
    public var costAbove: Money?
    /// Gate steps marked `risk: high` (true unless the policy says otherwise).
    public var riskHigh: Bool
    /// Gate http steps whose method is not GET or HEAD (`non_get_http`, true unless the policy says otherwise).
    public var nonGetHTTP: Bool = true
    public var settings: ApprovalSettings

    public init(costAbove: Money? = nil, riskHigh: Bool = true, settings: ApprovalSettings = ApprovalSettings()) {
        self.costAbove = costAbove
        self.riskHigh = riskHigh
        self.settings = settings
    }

    /// Why the policy gates a step, or nil when it does not. The one place these rules live.
    /// `httpMethod` is the method of an http step (nil for other steps).
    public func reason(risk: StepRisk?, worstCase: Money?, httpMethod: String? = nil) -> String? {
        if riskHigh, risk == .high { return "the step is marked risk: high" }
        if nonGetHTTP, let httpMethod, httpMethod != "GET", httpMethod != "HEAD" {
            return "it sends an HTTP \(httpMethod), which can change the world (the policy's non_get_http)"
        }
        if let costAbove, let worstCase, worstCase > costAbove {
            return "its worst-case cost $\(worstCase.exact()) is above the policy's cost_above $\(costAbove.exact())"
        }
        return nil
    }
}

/// The state of an approval request. Raw values are what JSON output and the journal say.
public enum ApprovalStatus: String, Sendable, Hashable, Codable, CaseIterable {
    case pending
    case approved
    case rejected
    /// Nobody decided before the deadline and `on_timeout: fail` said to fail the step.
    case expired

    public var isDecided: Bool { self != .pending }
}

/// The name recorded when a deadline, not a person, decided.
public let approvalTimeoutDecider = "wflo (timeout)"

/// One request for a human decision, durable in the journal. At most one per run and step:
/// asking again (after a resume) finds the same request and its decision.
public struct ApprovalRecord: Sendable, Hashable, Codable {
    /// 12 lowercase hex digits (abbreviate to any unique prefix, or say `RUN/STEP`).
    public var id: String
    public var runID: String
    public var stepID: String
    public var status: ApprovalStatus
    /// What the person is asked, rendered.
    public var message: String
    /// What exactly will run if approved (rendered prompt, model, URL, code…), as shown to people.
    public var details: JSONValue
    /// The step's worst-case cost when it is a paid step.
    public var worstCase: Money?
    public var settings: ApprovalSettings
    public var requestedAt: Date
    public var decidedBy: String?
    public var decidedAt: Date?
    /// The approver's comment, or the rejecter's reason.
    public var comment: String?

    public init(id: String, runID: String, stepID: String, status: ApprovalStatus = .pending, message: String,
                details: JSONValue = .null, worstCase: Money? = nil, settings: ApprovalSettings = ApprovalSettings(),
                requestedAt: Date, decidedBy: String? = nil, decidedAt: Date? = nil, comment: String? = nil) {
        self.id = id
        self.runID = runID
        self.stepID = stepID
        self.status = status
        self.message = message
        self.details = details
        self.worstCase = worstCase
        self.settings = settings
        self.requestedAt = requestedAt
        self.decidedBy = decidedBy
        self.decidedAt = decidedAt
        self.comment = comment
    }

    /// Makes a request id: 12 lowercase hex digits.
    public static func makeID() -> String {
        String(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(12))
    }

    /// When nobody deciding means `settings.onTimeout` applies.
    public var deadline: Date? { settings.timeout.map { requestedAt.addingTimeInterval($0) } }

    /// Whether `name` may decide this request (the `approvers` list, when there is one).
    public func allows(_ name: String) -> Bool {
        settings.approvers.isEmpty || settings.approvers.contains(name)
    }

    /// The decision as later steps see it: `{{steps.ID.output.approved}}`, `.comment`, ….
    public var output: JSONValue {
        var object: [String: JSONValue] = [
            "approved": .bool(status == .approved),
            "decision": .string(status.rawValue),
            "request_id": .string(id),
        ]
        object["by"] = decidedBy.map(JSONValue.string) ?? .null
        object["at"] = decidedAt.map { .string(ISO8601DateFormatter().string(from: $0)) } ?? .null
        object["comment"] = comment.map(JSONValue.string) ?? .null
        object["timed_out"] = .bool(decidedBy == approvalTimeoutDecider)
        return .object(object)
    }
}

/// A decision about to be recorded.
public struct ApprovalDecision: Sendable, Hashable {
    public enum Verdict: String, Sendable, Hashable {
        case approve, reject
        /// The deadline passed: the request's `on_timeout` decides.
        case timeout
    }

    public var requestID: String
    public var verdict: Verdict
    public var by: String
    public var comment: String?
    public var at: Date

    public init(requestID: String, verdict: Verdict, by: String, comment: String? = nil, at: Date) {
        self.requestID = requestID
        self.verdict = verdict
        self.by = by
        self.comment = comment
        self.at = at
    }
}

public enum ApprovalDecisionOutcome: Sendable, Hashable {
    /// This decision was recorded.
    case recorded(ApprovalRecord)
    /// Somebody (or the deadline) decided first; nothing was written. The record says who.
    case alreadyDecided(ApprovalRecord)
}
