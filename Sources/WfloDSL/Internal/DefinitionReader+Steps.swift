import WfloCore

extension DefinitionReader {
    /// One step. Returns a draft whenever the step has a usable id, even if other fields are
    /// wrong (their diagnostics are recorded), so references to it do not cascade into errors.
    mutating func readStep(_ node: Node) -> (StepDraft, StepDefinition?)? {
        guard case .mapping(let mapping) = node else {
            error(node, "each step must be a mapping with at least 'id' and 'type', not \(shown(node))")
            return nil
        }
        // The type decides which fields belong, so look at it before judging the others.
        let typeNode = mapping.first { $0.key.string == "type" }?.value
        let type = typeNode.flatMap { $0.scalar.flatMap { StepType(rawValue: $0.string) } }
        let idText = mapping.first { $0.key.string == "id" }?.value.scalar?.string
        let context = idText.map { "step '\($0)'" } ?? "a step"
        let own = type.map(Self.fields(of:)) ?? StepType.allCases.flatMap(Self.fields(of:))
        var f: [String: Field] = [:]
        for (key, value) in mapping {
            let name = key.string ?? ""
            if Self.commonStepFields.contains(name) || own.contains(name) {
                f[name] = Field(key: key, value: value)
            } else if let type, let other = StepType.allCases.first(where: { Self.fields(of: $0).contains(name) }) {
                error(key, "\(context): '\(name)' is a field of \(other.rawValue) steps, not of \(type.rawValue) steps")
            } else {
                error(key, "unknown field '\(name)' in \(context)" + Suggestion.phrase(for: name, in: Self.commonStepFields + own))
            }
        }

        guard let idField = f["id"] else {
            error(node, "a step is missing the required field 'id'")
            return nil
        }
        guard let id = text(idField.value, what: "a step's 'id'") else { return nil }
        if id.isEmpty || !id.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-") }) {
            error(idField.value, "step id '\(id)' may use only letters A–Z and a–z, digits, '_' and '-'")
        }

        sites = []
        let draft = StepDraft(id: id, mark: node.mark ?? Mark(line: 1, column: 1), idMark: idField.value.mark ?? Mark(line: 1, column: 1),
                              templates: [], dependsOn: [])
        if type == .agent { draft.budgetMark = f["budget"]?.value.mark }
        if let d = f["depends_on"] {
            switch d.value {
            case .scalar:
                if let s = text(d.value, what: "step '\(id)': 'depends_on'") { draft.dependsOn = [(s, d.value)] }
            case .sequence(let sequence):
                var listed = Set<String>()
                for item in sequence {
                    if let s = text(item, what: "step '\(id)': each item of 'depends_on'"), listed.insert(s).inserted {
                        draft.dependsOn.append((s, item))
                    }
                }
            default:
                error(d.value, "step '\(id)': 'depends_on' must be a step id or a list of step ids, not \(shown(d.value))")
            }
        }
        var ok = true
        var timeout: Double?
        if let t = f["timeout"] {
            timeout = duration(t.value, what: "step '\(id)': 'timeout'", allowZero: false)
            ok = ok && timeout != nil
        }
        var retry: RetryPolicy?
        if let r = f["retry"] {
            retry = readRetry(r.value, stepID: id)
            ok = ok && retry != nil
        }
        _ = f["description"].flatMap { text($0.value, what: "step '\(id)': 'description'") }
        var gate: ApprovalSettings?
        if let a = f["approval"] {
            gate = readGate(a.value, stepID: id)
            ok = ok && gate != nil
        }
        var risk: StepRisk?
        if let r = f["risk"] {
            risk = readRisk(r.value, stepID: id)
            ok = ok && risk != nil
        }
        var condition: Condition?
        let conditionSites = sites.count
        if let c = f["if"] {
            condition = readCondition(c.value, stepID: id)
            ok = ok && condition != nil
        }
        let conditionSitesEnd = sites.count
        var forEach: ForEachSettings?
        if let e = f["for_each"] {
            forEach = readForEach(e.value, stepID: id)
            ok = ok && forEach != nil
            if type == .switch || type == .sleep {
                error(e.key, "step '\(id)': 'for_each' is for steps that do work (llm, http, transform, approval, workflow), not \(type!.rawValue) steps")
                ok = false
            }
        }
        // The for_each's items cannot see the item; `if:` can (it is then decided per item), and so
        // can the step's own fields, read from here on.
        let firstFieldSite = sites.count

        var allowFailure = false
        if let a = f["allow_failure"] {
            if case .bool(let flag) = YAMLValue.convert(a.value) { allowFailure = flag } else {
                error(a.value, "step '\(id)': 'allow_failure' must be true or false, not \(shown(a.value))")
                ok = false
            }
        }

        let kind: StepKind?
        if let typeField = f["type"] {
            if let type {
                switch type {
                case .llm: kind = readLLM(f, node: node, id: id)
                case .transform: kind = readTransform(f, node: node, id: id)
                case .approval: kind = readApprovalStep(f, node: node, id: id, timeout: timeout)
                case .http: kind = readHTTP(f, node: node, id: id, retry: retry)
                case .switch: kind = readSwitch(f, node: node, id: id)
                case .sleep: kind = readSleep(f, node: node, id: id)
                case .workflow: kind = readSubWorkflow(f, node: node, id: id)
                case .agent: kind = readAgent(f, node: node, id: id)
                case .sandbox: kind = readSandbox(f, node: node, id: id)
                case .mcp:
                    error(typeField.value, "step '\(id)': 'mcp' is not a step type; list an MCP server under an agent's tools: - mcp: {name, command | url}")
                    kind = nil
                }
            } else {
                let allowed = StepType.allCases.filter { $0 != .mcp }.map(\.rawValue)
                let written = typeField.value.scalar?.string ?? ""
                error(typeField.value, "step '\(id)': unknown step type \(shown(typeField.value)); the allowed types are "
                      + allowed.joined(separator: ", ") + Suggestion.phrase(for: written, in: allowed))
                kind = nil
            }
        } else {
            error(node, "step '\(id)' is missing the required field 'type' (one of: \(StepType.allCases.filter { $0 != .mcp }.map(\.rawValue).joined(separator: ", ")))")
            kind = nil
        }
        if let forEach {
            for index in sites.indices where index >= firstFieldSite || (conditionSites..<conditionSitesEnd).contains(index) {
                sites[index].forEachVar = forEach.itemVar
            }
        }
        draft.templates = sites
        var definition: StepDefinition?
        if let kind, ok {
            definition = StepDefinition(id: id, dependsOn: draft.dependsOn.map(\.id), retry: retry, timeout: timeout,
                                              kind: kind, approval: gate, risk: risk, condition: condition, forEach: forEach,
                                              allowFailure: allowFailure,
                                              location: location(node))
        }
        return (draft, definition)
    }

    /// A Temporal-shaped retry policy; fields not written keep ``RetryPolicy/default``'s values.
    mutating func readRetry(_ node: Node, stepID: String) -> RetryPolicy? {
        let context = "the retry policy of step '\(stepID)'"
        guard case .mapping = node else {
            error(node, "\(context) must be a mapping of \(Self.retryFields.joined(separator: ", "))")
            return nil
        }
        let f = fields(node, allowed: Self.retryFields, context: context)
        var policy = RetryPolicy.default
        var ok = true
        if let v = f["initial_interval"] {
            if let d = duration(v.value, what: "\(context): 'initial_interval'", allowZero: true) { policy.initialInterval = d } else { ok = false }
        }
        if let v = f["maximum_interval"] {
            if let d = duration(v.value, what: "\(context): 'maximum_interval'", allowZero: true) { policy.maximumInterval = d } else { ok = false }
        }
        if let v = f["backoff_coefficient"] {
            if let d = number(v.value, what: "\(context): 'backoff_coefficient'") {
                if d >= 1 { policy.backoffCoefficient = d } else {
                    error(v.value, "\(context): 'backoff_coefficient' must be at least 1, not \(shown(v.value))")
                    ok = false
                }
            } else { ok = false }
        }
        if let v = f["maximum_attempts"] {
            if let n = positiveInt(v.value, what: "\(context): 'maximum_attempts'", why: " (1 means no retry)") { policy.maximumAttempts = n } else { ok = false }
        }
        if let v = f["non_retryable_errors"] {
            if let list = textList(v.value, what: "\(context): 'non_retryable_errors'") {
                let items: [Node] = if case .sequence(let sequence) = v.value { Array(sequence) } else { [v.value] }
                var kinds: [CallErrorKind] = []
                for (name, item) in zip(list, items) {
                    guard let kind = CallErrorKind(rawValue: name) else {
                        error(item, "\(context): 'non_retryable_errors' lists '\(name)', which is not an error kind"
                            + Suggestion.phrase(for: name, in: RetryPolicy.errorKinds)
                            + " (kinds: \(RetryPolicy.errorKinds.joined(separator: ", ")))")
                        ok = false
                        continue
                    }
                    kinds.append(kind)
                }
                policy.nonRetryableErrors = kinds
            } else { ok = false }
        }
        if let v = f["maximum_interval"], f["initial_interval"] != nil, ok, policy.maximumInterval < policy.initialInterval {
            error(v.value, "\(context): 'maximum_interval' must be at least 'initial_interval'")
            ok = false
        }
        return ok ? policy : nil
    }

    mutating func readTransform(_ f: [String: Field], node: Node, id: String) -> StepKind? {
        guard let output = f["output"] else {
            error(node, "step '\(id)' is missing the required field 'output' (the value a transform step builds)")
            return nil
        }
        return templateValue(output.value).map { .transform(TransformStepDefinition(output: $0)) }
    }

    mutating func readLLM(_ f: [String: Field], node: Node, id: String) -> StepKind? {
        var ok = true
        let call = readCallSettings(f, node: node, id: id, maxTokensWhy: " (it caps the answer and so the cost)",
                                    maxTokensMissing: "wflo always sends it: it bounds the cost")
        ok = ok && call != nil
        let model = call?.model ?? "", maxTokens = call?.maxTokens ?? 0
        let provider = call?.provider, baseURL = call?.baseURL, temperature = call?.temperature

        var system: Template?
        if let s = f["system"] {
            system = template(s.value, what: "step '\(id)': 'system'")
            ok = ok && system != nil
        }
        var prompt: Template?
        if let p = f["prompt"] {
            prompt = template(p.value, what: "step '\(id)': 'prompt'")
            ok = ok && prompt != nil
        }
        var messages: [LLMMessageTemplate] = []
        if let m = f["messages"] {
            if let read = readMessages(m.value, id: id) { messages = read } else { ok = false }
        }
        if f["prompt"] == nil && f["messages"] == nil {
            error(node, "step '\(id)' needs 'prompt' (text) or 'messages' (a list of {role, content})")
            ok = false
        }

        var stop: [String] = []
        if let s = f["stop"] {
            if let list = textList(s.value, what: "step '\(id)': 'stop'") { stop = list } else { ok = false }
        }
        var json = false
        if let r = f["response_format"] {
            switch YAMLValue.convert(r.value) {
            case .string("json"), .string("json_object"): json = true
            case .string("text"): json = false
            case let v where ["json_object", "json"].contains(v["type"]?.stringValue ?? ""): json = true
            case let v where v["type"]?.stringValue == "text": json = false
            default:
                error(r.value, "step '\(id)': 'response_format' must be json or text (or {type: json_object}), not \(shown(r.value))")
                ok = false
            }
        }
        var cache: Bool?
        if let c = f["cache"] {
            if case .bool(let flag) = YAMLValue.convert(c.value) { cache = flag } else {
                error(c.value, "step '\(id)': 'cache' must be true or false, not \(shown(c.value))")
                ok = false
            }
        }
        var cacheTTL: Double?
        if let t = f["cache_ttl"] {
            cacheTTL = duration(t.value, what: "step '\(id)': 'cache_ttl'", allowZero: false)
            ok = ok && cacheTTL != nil
        }
        var webSearch: WebSearchSettings?
        if let w = f["web_search"] {
            webSearch = readWebSearch(w.value, id: id)
            ok = ok && webSearch != nil
        }
        guard ok else { return nil }
        return .llm(LLMStepDefinition(model: model, provider: provider, baseURL: baseURL, system: system, prompt: prompt,
                                      messages: messages, maxTokens: maxTokens, temperature: temperature, stop: stop,
                                      jsonResponse: json, cache: cache, cacheTTL: cacheTTL, webSearch: webSearch))
    }

    /// `web_search: {max_uses: N, context_size: low|medium|high}`: `max_uses` is required, since it
    /// bounds what the searches can cost (each is billed per query) and so what is reserved.
    mutating func readWebSearch(_ node: Node, id: String) -> WebSearchSettings? {
        guard case .mapping(let mapping) = node else {
            error(node, "step '\(id)': 'web_search' must be a mapping such as {max_uses: 3} (max_uses bounds what the searches cost), not \(shown(node))")
            return nil
        }
        var maxUses: Int?
        var size: String?
        var ok = true
        for (key, value) in mapping {
            switch key.string ?? "" {
            case "max_uses":
                maxUses = positiveInt(value, what: "step '\(id)': 'web_search.max_uses'", why: " (it bounds what the searches cost)")
                ok = ok && maxUses != nil
            case "context_size":
                if case .scalar(let scalar) = value, WebSearchSettings.contextSizes.contains(scalar.string) {
                    size = scalar.string
                } else {
                    error(value, "step '\(id)': 'web_search.context_size' must be low, medium or high, not \(shown(value))")
                    ok = false
                }
            case let other:
                error(key, "step '\(id)': 'web_search' has no field '\(other)'; it takes max_uses and context_size")
                ok = false
            }
        }
        guard ok else { return nil }
        guard let maxUses else {
            error(node, "step '\(id)': 'web_search' needs 'max_uses' (the most searches one call may make): without a bound its cost cannot be reserved")
            return nil
        }
        return WebSearchSettings(maxUses: maxUses, contextSize: size)
    }

    /// What every model call sets (llm and agent steps): the `model` (priced), `max_tokens`
    /// (required: it bounds the cost), and optionally `provider`, `base_url` and `temperature`.
    struct CallSettings {
        var model = ""
        var maxTokens = 0
        var provider: LLMProviderKind?
        var baseURL: String?
        var temperature: Double?
    }

    /// Reads ``CallSettings``; nil when one of them is wrong or missing (a diagnostic says which).
    mutating func readCallSettings(_ f: [String: Field], node: Node, id: String, maxTokensWhy: String,
                                   maxTokensMissing: String) -> CallSettings? {
        var settings = CallSettings()
        var ok = true
        if let m = f["model"] {
            if let name = readPricedModel(m, id: id, what: "'model'") { settings.model = name } else { ok = false }
        } else {
            error(node, "step '\(id)' is missing the required field 'model'")
            ok = false
        }
        if let m = f["max_tokens"] {
            if let n = positiveInt(m.value, what: "step '\(id)': 'max_tokens'", why: maxTokensWhy) { settings.maxTokens = n } else { ok = false }
        } else {
            error(node, "step '\(id)' is missing the required field 'max_tokens' (\(maxTokensMissing))")
            ok = false
        }
        if let p = f["provider"] {
            let allowed = LLMProviderKind.allCases.map(\.rawValue)
            if let text = text(p.value, what: "step '\(id)': 'provider'") {
                if let kind = LLMProviderKind(rawValue: text) { settings.provider = kind } else {
                    error(p.value, "step '\(id)': unknown provider '\(text)'; the allowed providers are "
                          + allowed.joined(separator: ", ") + Suggestion.phrase(for: text, in: allowed))
                    ok = false
                }
            } else { ok = false }
        }
        if let b = f["base_url"] {
            settings.baseURL = text(b.value, what: "step '\(id)': 'base_url'")
            if let url = settings.baseURL, !(url.hasPrefix("http://") || url.hasPrefix("https://")) {
                error(b.value, "step '\(id)': 'base_url' must start with http:// or https://, not '\(url)'")
                ok = false
            }
            ok = ok && settings.baseURL != nil
        }
        if let t = f["temperature"] {
            settings.temperature = number(t.value, what: "step '\(id)': 'temperature'")
            if let value = settings.temperature, value < 0 {
                error(t.value, "step '\(id)': 'temperature' must not be negative")
                ok = false
            }
            ok = ok && settings.temperature != nil
        }
        return ok ? settings : nil
    }

    /// A model name that the pricing table (or the file's `pricing:` block) prices.
    mutating func readPricedModel(_ field: Field, id: String, what: String) -> String? {
        guard let name = text(field.value, what: "step '\(id)': \(what)") else { return nil }
        guard let check = modelCheck, !pricedInFile.contains(name) else { return name }
        if steps?.defersModelChecks == true {
            // Read before the file's `pricing:` block (steps read as the file is composed), which
            // may price it: judged once that block is read (``readSteps(_:)``). Not asked here:
            // the table's answer for a model it lacks looks for the closest name among thousands.
            steps?.namedModels.append((name: name, node: field.value, id: id, draft: nil))
            return name
        }
        if let problem = check(name) {
            error(field.value, "step '\(id)': \(problem)")
            return nil
        }
        return name
    }

    mutating func readMessages(_ node: Node, id: String) -> [LLMMessageTemplate]? {
        guard case .sequence(let sequence) = node, !sequence.isEmpty else {
            error(node, "step '\(id)': 'messages' must be a non-empty list of {role, content}")
            return nil
        }
        let roles = ["system", "user", "assistant"]
        var messages: [LLMMessageTemplate] = []
        var ok = true
        for item in sequence {
            guard case .mapping = item else {
                error(item, "step '\(id)': each message must be a mapping {role, content}, not \(shown(item))")
                ok = false
                continue
            }
            let mf = fields(item, allowed: ["role", "content"], context: "a message of step '\(id)'")
            guard let roleField = mf["role"], let contentField = mf["content"] else {
                error(item, "step '\(id)': a message is missing '\(mf["role"] == nil ? "role" : "content")'")
                ok = false
                continue
            }
            let role = text(roleField.value, what: "step '\(id)': a message's 'role'")
            if let role, !roles.contains(role) {
                error(roleField.value, "step '\(id)': unknown message role '\(role)'; the allowed roles are "
                      + roles.joined(separator: ", ") + Suggestion.phrase(for: role, in: roles))
                ok = false
            }
            let content = template(contentField.value, what: "step '\(id)': a message's 'content'")
            if let role, let content { messages.append(LLMMessageTemplate(role: role, content: content)) } else { ok = false }
        }
        return ok ? messages : nil
    }
}
