import WfloCore

extension DefinitionReader {
    /// An `approval` step: `message` (a template), `approvers`, `timeout` (read with the common
    /// fields), `on_timeout`.
    mutating func readApprovalStep(_ f: [String: Field], node: Node, id: String, timeout: Double?) -> StepKind? {
        guard let m = f["message"] else {
            error(node, "step '\(id)' is missing the required field 'message' (what the approver reads, e.g. \"Publish this? {{steps.draft.output.text}}\")")
            return nil
        }
        var ok = true
        let message = template(m.value, what: "step '\(id)': 'message'")
        ok = ok && message != nil
        var settings = ApprovalSettings(timeout: timeout)
        if let a = f["approvers"] {
            if let list = readApprovers(a.value, what: "step '\(id)': 'approvers'") { settings.approvers = list } else { ok = false }
        }
        if let o = f["on_timeout"] {
            if let action = readTimeoutAction(o.value, what: "step '\(id)': 'on_timeout'") { settings.onTimeout = action } else { ok = false }
            if f["timeout"] == nil {
                error(o.key, "step '\(id)': 'on_timeout' has no effect without 'timeout' (e.g. timeout: 1h)")
                ok = false
            }
        }
        guard ok, let message else { return nil }
        return .approval(ApprovalStepDefinition(message: message, settings: settings))
    }

    /// `approval: required` on any step, or `approval: {approvers, timeout, on_timeout}`.
    mutating func readGate(_ node: Node, stepID: String) -> ApprovalSettings? {
        let what = "step '\(stepID)': 'approval'"
        switch node {
        case .scalar(let scalar) where scalar.string == "required":
            return ApprovalSettings()
        case .mapping:
            return readApprovalSettings(node, allowed: Self.approvalSettingsFields, context: what)
        default:
            error(node, "\(what) must be `required` or a mapping of \(Self.approvalSettingsFields.joined(separator: ", ")), not \(shown(node))")
            return nil
        }
    }

    /// `risk: low | medium | high`.
    mutating func readRisk(_ node: Node, stepID: String) -> StepRisk? {
        let allowed = StepRisk.allCases.map(\.rawValue)
        guard let written = text(node, what: "step '\(stepID)': 'risk'") else { return nil }
        if let risk = StepRisk(rawValue: written) { return risk }
        error(node, "step '\(stepID)': unknown risk '\(written)'; the allowed values are \(allowed.joined(separator: ", "))"
              + Suggestion.phrase(for: written, in: allowed))
        return nil
    }

    /// `approval_policy: {cost_above, risk_high, approvers, timeout, on_timeout}`.
    mutating func readApprovalPolicy(_ node: Node) -> ApprovalPolicy? {
        guard case .mapping = node else {
            error(node, "'approval_policy' must be a mapping of \(Self.approvalPolicyFields.joined(separator: ", "))")
            return nil
        }
        let context = "'approval_policy'"
        var policy = ApprovalPolicy()
        var ok = true
        let f = fields(node, allowed: Self.approvalPolicyFields, context: context)
        if let c = f["cost_above"] {
            if case .scalar(let scalar) = c.value, let money = Money(string: scalar.string), !money.isNegative {
                policy.costAbove = money
            } else {
                error(c.value, "\(context): 'cost_above' must be an amount in USD such as 0.05, not \(shown(c.value))")
                ok = false
            }
        }
        if let r = f["risk_high"] {
            switch YAMLValue.convert(r.value) {
            case .bool(let flag): policy.riskHigh = flag
            default:
                error(r.value, "\(context): 'risk_high' must be true or false, not \(shown(r.value))")
                ok = false
            }
        }
        if let settings = readApprovalSettings(node, allowed: Self.approvalPolicyFields, context: context, reportUnknown: false) {
            policy.settings = settings
        } else { ok = false }
        return ok ? policy : nil
    }

    /// The `approvers`, `timeout` and `on_timeout` of a mapping.
    mutating func readApprovalSettings(_ node: Node, allowed: [String], context: String, reportUnknown: Bool = true) -> ApprovalSettings? {
        let f: [String: Field]
        if reportUnknown {
            f = fields(node, allowed: allowed, context: context)
        } else if case .mapping(let mapping) = node {
            var found: [String: Field] = [:]
            for (key, value) in mapping { if let name = key.string { found[name] = Field(key: key, value: value) } }
            f = found
        } else {
            return nil
        }
        var settings = ApprovalSettings()
        var ok = true
        if let a = f["approvers"] {
            if let list = readApprovers(a.value, what: "\(context): 'approvers'") { settings.approvers = list } else { ok = false }
        }
        if let t = f["timeout"] {
            if let seconds = duration(t.value, what: "\(context): 'timeout'", allowZero: false) { settings.timeout = seconds } else { ok = false }
        }
        if let o = f["on_timeout"] {
            if let action = readTimeoutAction(o.value, what: "\(context): 'on_timeout'") { settings.onTimeout = action } else { ok = false }
            if f["timeout"] == nil {
                error(o.key, "\(context): 'on_timeout' has no effect without 'timeout' (e.g. timeout: 1h)")
                ok = false
            }
        }
        return ok ? settings : nil
    }

    mutating func readApprovers(_ node: Node, what: String) -> [String]? {
        guard let list = textList(node, what: what) else { return nil }
        if list.isEmpty || list.contains(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
            error(node, "\(what) must list at least one name, with no empty names (leave it out to let anyone decide)")
            return nil
        }
        return list
    }

    mutating func readTimeoutAction(_ node: Node, what: String) -> ApprovalTimeoutAction? {
        let allowed = ApprovalTimeoutAction.allCases.map(\.rawValue)
        guard let written = text(node, what: what) else { return nil }
        if let action = ApprovalTimeoutAction(rawValue: written) { return action }
        error(node, "\(what) must be one of \(allowed.joined(separator: ", ")), not '\(written)'" + Suggestion.phrase(for: written, in: allowed))
        return nil
    }
}
