import Foundation
import WfloCore

/// `triggers:` and `concurrency:` (issue 21).
extension DefinitionReader {
    static let scheduleFields = ["cron", "every", "tz", "inputs", "catchup"]
    static let webhookFields = ["name", "secret", "inputs"]
    static let concurrencyFields = ["limit", "key", "on_conflict"]

    /// `triggers:`: a list of `- schedule: {…}` and `- webhook: {…}`.
    mutating func readTriggers(_ node: Node, inputs: [InputDefinition]) -> [TriggerDefinition] {
        guard case .sequence(let sequence) = node else {
            error(node, "'triggers' must be a list such as [{schedule: {cron: \"0 9 * * MON-FRI\", tz: Europe/Berlin}}, {webhook: {name: new-ticket}}]")
            return []
        }
        var triggers: [TriggerDefinition] = []
        var hookNames: [String: Node] = [:]
        for item in sequence {
            let f = fields(item, allowed: ["schedule", "webhook"], context: "a trigger")
            guard f.count == 1, let (kind, field) = f.first else {
                if f.count > 1 { error(item, "a trigger is either 'schedule' or 'webhook', not both: write each as its own list item") }
                else if case .mapping(let m) = item, m.isEmpty { error(item, "a trigger needs 'schedule: {…}' or 'webhook: {…}'") }
                continue
            }
            if kind == "schedule" {
                if let s = readSchedule(field.value, inputs: inputs) { triggers.append(.schedule(s)) }
            } else if let w = readWebhook(field.value, inputs: inputs) {
                if let first = hookNames[w.name] {
                    error(field.value, "webhook name '\(w.name)' is used twice (line \(first.mark?.line ?? 1)); names must be unique")
                } else {
                    hookNames[w.name] = field.value
                    triggers.append(.webhook(w))
                }
            }
        }
        return triggers
    }

    mutating func readSchedule(_ node: Node, inputs: [InputDefinition]) -> ScheduleTrigger? {
        let context = "a schedule trigger"
        guard case .mapping = node else {
            error(node, "\(context) must be a mapping such as {cron: \"0 9 * * MON-FRI\", tz: Europe/Berlin} or {every: 30s}")
            return nil
        }
        let f = fields(node, allowed: Self.scheduleFields, context: context)
        var ok = true
        var zone = TimeZone(identifier: "UTC")!
        if let tz = f["tz"] {
            if let id = text(tz.value, what: "\(context): 'tz'") {
                if let z = TimeZone(identifier: id) { zone = z } else {
                    error(tz.value, "\(context): 'tz' '\(id)' is not an IANA time zone; write one such as Europe/Berlin, America/New_York or UTC")
                    ok = false
                }
            } else { ok = false }
        }
        var timing: ScheduleTiming?
        switch (f["cron"], f["every"]) {
        case (let cron?, nil):
            if let expression = text(cron.value, what: "\(context): 'cron'") {
                do {
                    timing = .cron(try CronSchedule(expression, timeZone: zone))
                } catch {
                    self.error(cron.value, "\(context): 'cron': \(error.message)")
                }
            }
        case (nil, let every?):
            if f["tz"] != nil { error(f["tz"]!.key, "\(context): 'tz' applies to 'cron' only; 'every' counts from 1970 in UTC"); ok = false }
            if let seconds = duration(every.value, what: "\(context): 'every'", allowZero: false) {
                if seconds < 1 { error(every.value, "\(context): 'every' must be at least 1s, not \(shown(every.value))") } else { timing = .every(seconds) }
            }
        case (.some, .some):
            error(node, "\(context) has both 'cron' and 'every'; keep one")
        case (nil, nil):
            error(node, "\(context) needs 'cron' (such as \"0 9 * * MON-FRI\") or 'every' (such as 30s)")
        }
        var catchup = Catchup.last
        if let c = f["catchup"] {
            if let t = text(c.value, what: "\(context): 'catchup'") {
                if let value = Catchup(rawValue: t) { catchup = value } else {
                    error(c.value, "\(context): 'catchup' must be none, last or all, not \(shown(c.value))")
                    ok = false
                }
            } else { ok = false }
        }
        var values: JSONValue = .object([:])
        if let i = f["inputs"] {
            if let v = readTriggerInputs(i.value, inputs: inputs, context: context, allowBody: false) {
                values = .object(v.compactMapValues { if case .literal(let l) = $0 { return l } else { return nil } })
            } else { ok = false }
        }
        if case .object(let given) = values {
            for input in inputs where input.isRequired && given[input.name] == nil {
                error(node, "\(context) does not give input '\(input.name)', which has no default: add it under the trigger's 'inputs'")
                ok = false
            }
        }
        guard ok, let timing else { return nil }
        return ScheduleTrigger(timing: timing, inputs: values, catchup: catchup)
    }

    mutating func readWebhook(_ node: Node, inputs: [InputDefinition]) -> WebhookTrigger? {
        let context = "a webhook trigger"
        guard case .mapping = node else {
            error(node, "\(context) must be a mapping such as {name: new-ticket, secret: \"{{secrets.HOOK_SECRET}}\", inputs: {ticket: \"{{body.id}}\"}}")
            return nil
        }
        let f = fields(node, allowed: Self.webhookFields, context: context)
        var ok = true
        var name: String?
        if let n = f["name"] {
            name = text(n.value, what: "\(context): 'name'")
            if let value = name, let problem = QueueSettings.problem(name: value) {
                error(n.value, "\(context): 'name': " + problem.replacingOccurrences(of: "queue name", with: "webhook name"))
                name = nil
            }
        } else {
            error(node, "\(context) needs 'name' (its URL is POST /hooks/NAME)")
        }
        var secret: String?
        if let s = f["secret"], let t = text(s.value, what: "\(context): 'secret'") {
            let trimmed = t.trimmingCharacters(in: .whitespaces)
            let inner = trimmed.hasPrefix("{{") && trimmed.hasSuffix("}}") ? String(trimmed.dropFirst(2).dropLast(2)).trimmingCharacters(in: .whitespaces) : ""
            let parts = inner.split(separator: ".", omittingEmptySubsequences: false)
            if parts.count == 2, parts[0] == "secrets", !parts[1].isEmpty, parts[1].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) {
                secret = String(parts[1])
            } else {
                error(s.value, "\(context): 'secret' must name a secret, \"{{secrets.NAME}}\" (never the secret itself in the file)")
                ok = false
            }
        } else if f["secret"] != nil { ok = false }
        var values: [String: TemplateValue] = [:]
        if let i = f["inputs"] {
            if let v = readTriggerInputs(i.value, inputs: inputs, context: context, allowBody: true) { values = v } else { ok = false }
        }
        for input in inputs where input.isRequired && values[input.name] == nil {
            error(node, "\(context) does not give input '\(input.name)', which has no default: add it under the trigger's 'inputs' (such as \(input.name): \"{{body.\(input.name)}}\")")
            ok = false
        }
        guard ok, let name else { return nil }
        return WebhookTrigger(name: name, secretName: secret, inputs: values)
    }

    /// A trigger's `inputs:`: a mapping of declared inputs to values (templates of `{{body.…}}` for a webhook).
    mutating func readTriggerInputs(_ node: Node, inputs: [InputDefinition], context: String, allowBody: Bool) -> [String: TemplateValue]? {
        guard case .mapping(let mapping) = node else {
            error(node, "\(context): 'inputs' must be a mapping of INPUT: value")
            return nil
        }
        var result: [String: TemplateValue] = [:]
        var ok = true
        let saved = sites
        defer { sites = saved }
        for (key, value) in mapping {
            let name = key.string ?? ""
            guard inputs.contains(where: { $0.name == name }) else {
                error(key, "\(context): 'inputs' names '\(name)', which the workflow does not declare under 'inputs'"
                    + Suggestion.phrase(for: name, in: inputs.map(\.name)))
                ok = false
                continue
            }
            sites = []
            guard let v = templateValue(value) else { ok = false; continue }
            for site in sites {
                for path in site.template.references where !(allowBody && path.first == "body") {
                    error(site.node, allowBody
                        ? "\(context): input '\(name)' may use only the delivery's body ({{body.FIELD}}), not {{\(path.joined(separator: "."))}}"
                        : "\(context): input '\(name)' must be a plain value; a schedule has nothing to fill {{\(path.joined(separator: "."))}} with")
                    ok = false
                }
            }
            result[name] = v
        }
        return ok ? result : nil
    }

    /// `concurrency: {limit: N, key: "{{inputs.customer}}", on_conflict: queue|skip|cancel_running}`.
    mutating func readConcurrency(_ node: Node, inputs: [InputDefinition]) -> ConcurrencySettings? {
        let context = "'concurrency'"
        guard case .mapping = node else {
            error(node, "\(context) must be a mapping such as {limit: 1, key: \"{{inputs.customer}}\", on_conflict: queue}")
            return nil
        }
        let f = fields(node, allowed: Self.concurrencyFields, context: context)
        var ok = true
        var limit = 1
        if let l = f["limit"] {
            if let n = positiveInt(l.value, what: "\(context): 'limit'", why: " (runs per key at once)") { limit = n } else { ok = false }
        }
        var key: Template?
        if let k = f["key"] {
            let saved = sites
            key = template(k.value, what: "\(context): 'key'")
            sites = saved
            if key == nil { ok = false }
            for path in key?.references ?? [] {
                if path.count != 2 || path[0] != "inputs" {
                    error(k.value, "\(context): 'key' may use only the run's inputs ({{inputs.NAME}}), not {{\(path.joined(separator: "."))}}")
                    ok = false
                } else if !inputs.contains(where: { $0.name == path[1] }) {
                    error(k.value, "\(context): 'key' uses {{inputs.\(path[1])}}, but the workflow declares no input '\(path[1])' under 'inputs'")
                    ok = false
                }
            }
        }
        var onConflict = ConcurrencySettings.OnConflict.queue
        if let c = f["on_conflict"] {
            if let t = text(c.value, what: "\(context): 'on_conflict'") {
                if let value = ConcurrencySettings.OnConflict(rawValue: t) { onConflict = value } else {
                    error(c.value, "\(context): 'on_conflict' must be queue, skip or cancel_running, not \(shown(c.value))")
                    ok = false
                }
            } else { ok = false }
        }
        return ok ? ConcurrencySettings(limit: limit, key: key, onConflict: onConflict) : nil
    }
}
