import Foundation
import WfloCore

extension DefinitionReader {
    static let egressFields = ["allow", "deny", "schemes"]
    static let circuitBreakerFields = ["failure_threshold", "window", "open_for"]
    /// Output fields of every http step; `extract:` names may not reuse them.
    static let httpOutputFields = ["status", "headers", "body", "json", "url", "redirects"]

    /// An `http` step. The request fields (`url`, `query`, `headers`, `body`, `json`) may use
    /// `{{secrets.NAME}}`; `fallback` may not (it is journaled as the step's output).
    mutating func readHTTP(_ f: [String: Field], node: Node, id: String, retry: RetryPolicy?) -> StepKind? {
        var ok = true
        var method = "GET"
        if let m = f["method"] {
            if let text = text(m.value, what: "step '\(id)': 'method'") {
                method = text.uppercased()
                if !HTTPStepDefinition.methods.contains(method) {
                    error(m.value, "step '\(id)': unknown HTTP method '\(text)'; write one of \(HTTPStepDefinition.methods.joined(separator: ", "))"
                          + Suggestion.phrase(for: method, in: HTTPStepDefinition.methods))
                    ok = false
                }
            } else { ok = false }
        }

        let firstRequestSite = sites.count
        var url: Template?
        if let u = f["url"] {
            url = template(u.value, what: "step '\(id)': 'url'")
            if let url, url.isConstant {
                let parts = URLComponents(string: url.source)
                if parts?.scheme.map({ ["http", "https"].contains($0.lowercased()) }) != true || (parts?.host ?? "").isEmpty {
                    error(u.value, "step '\(id)': 'url' must be an absolute http:// or https:// URL such as https://api.example.com/v1/items, not '\(url.source)'")
                    ok = false
                }
            }
            ok = ok && url != nil
        } else {
            error(node, "step '\(id)' is missing the required field 'url' (e.g. url: \"https://api.example.com/v1/items\")")
            ok = false
        }
        var query: [HTTPField] = []
        if let q = f["query"] {
            if let fields = readHTTPFields(q.value, what: "step '\(id)': 'query'", example: "{page: 2, q: \"{{inputs.topic}}\"}", headerNames: false) {
                query = fields
            } else { ok = false }
        }
        var headers: [HTTPField] = []
        if let h = f["headers"] {
            if let fields = readHTTPFields(h.value, what: "step '\(id)': 'headers'", example: "{Authorization: \"Bearer {{secrets.API_TOKEN}}\"}", headerNames: true) {
                headers = fields
            } else { ok = false }
        }
        var body: HTTPBodyTemplate?
        if let b = f["body"], let j = f["json"] {
            error(j.key, "step '\(id)': use either 'body' (text) or 'json' (a value sent as application/json), not both (body is on line \(b.key.mark?.line ?? 1))")
            ok = false
        } else if let b = f["body"] {
            if let t = template(b.value, what: "step '\(id)': 'body' (text; for a JSON body use 'json:')") { body = .text(t) } else { ok = false }
        } else if let j = f["json"] {
            if let v = templateValue(j.value) { body = .json(v) } else { ok = false }
        }
        for index in firstRequestSite..<sites.count { sites[index].allowsSecrets = true }

        var expect: [Int] = []
        if let e = f["expect_status"] {
            if let list = readStatuses(e.value, id: id) { expect = list } else { ok = false }
        }
        var extract: [HTTPExtraction] = []
        if let e = f["extract"] {
            if let list = readExtract(e.value, id: id) { extract = list } else { ok = false }
        }
        var follow = HTTPStepDefinition.defaultFollowRedirects
        if let r = f["follow_redirects"] {
            if case .scalar(let s) = r.value, s.style == .plain, let n = Int(s.string), n >= 0 {
                follow = n
            } else if case .bool(false) = YAMLValue.convert(r.value) {
                follow = 0
            } else {
                error(r.value, "step '\(id)': 'follow_redirects' must be how many redirects to follow (0 to return the 3xx itself; default 5), not \(shown(r.value))")
                ok = false
            }
        }
        var maxBytes = HTTPStepDefinition.defaultMaxResponseBytes
        if let m = f["max_response_bytes"] {
            if case .scalar(let s) = m.value, let n = Self.byteCount(s.string) {
                maxBytes = n
            } else {
                error(m.value, "step '\(id)': 'max_response_bytes' must be a size above zero such as 1048576, 512KiB or 10MiB, not \(shown(m.value))")
                ok = false
            }
        }
        var idempotent: Bool?
        if let i = f["idempotent"] {
            if case .bool(let flag) = YAMLValue.convert(i.value) { idempotent = flag } else {
                error(i.value, "step '\(id)': 'idempotent' must be true or false, not \(shown(i.value))")
                ok = false
            }
        }
        var traceContext: Bool?
        if let t = f["trace_context"] {
            if case .bool(let flag) = YAMLValue.convert(t.value) { traceContext = flag } else {
                error(t.value, "step '\(id)': 'trace_context' must be true (send the W3C traceparent header, the default) or false, not \(shown(t.value))")
                ok = false
            }
        }
        var fallback: TemplateValue?
        if let fb = f["fallback"] {
            fallback = templateValue(fb.value)
            ok = ok && fallback != nil
        }
        guard ok, let url else { return nil }
        var definition = HTTPStepDefinition(method: method, url: url, query: query, headers: headers, body: body, expectStatus: expect,
                                            extract: extract, followRedirects: follow, maxResponseBytes: maxBytes,
                                            idempotent: idempotent, fallback: fallback)
        definition.traceContext = traceContext
        if let retry, retry.maximumAttempts > 1, !definition.isIdempotent, let r = f["retry"] {
            error(r.key, "step '\(id)': a \(method) is not retried because sending it twice may do twice what it does; "
                  + "add `idempotent: true` (or an Idempotency-Key header) if the server makes repeats harmless, or remove 'retry'")
            return nil
        }
        return .http(definition)
    }

    /// A mapping of NAME: value (text, numbers and booleans; values may be templates), in file order.
    mutating func readHTTPFields(_ node: Node, what: String, example: String, headerNames: Bool) -> [HTTPField]? {
        guard case .mapping(let mapping) = node else {
            error(node, "\(what) must be a mapping of NAME: value, such as \(example)")
            return nil
        }
        var fields: [HTTPField] = []
        var ok = true
        for (key, value) in mapping {
            let name = key.string ?? ""
            let token = CharacterSet(charactersIn: "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
            if name.isEmpty || (headerNames && !name.unicodeScalars.allSatisfy(token.contains)) {
                error(key, "\(what): '\(name)' is not a valid \(headerNames ? "header" : "parameter") name")
                ok = false
                continue
            }
            guard case .scalar(let scalar) = value, !YAMLValue.isNull(scalar) else {
                error(value, "\(what): '\(name)' must have a text value, not \(YAMLValue.isNullNode(value) ? "empty" : shown(value))")
                ok = false
                continue
            }
            if let t = parseTemplate(scalar.string, node: value) { fields.append(HTTPField(name: name, value: t)) } else { ok = false }
        }
        return ok ? fields : nil
    }

    /// `expect_status: 200` or `[200, 201]`.
    mutating func readStatuses(_ node: Node, id: String) -> [Int]? {
        let items: [Node]
        switch node {
        case .scalar: items = [node]
        case .sequence(let sequence) where !sequence.isEmpty: items = Array(sequence)
        default:
            error(node, "step '\(id)': 'expect_status' must be a status or a list of statuses such as [200, 201], not \(shown(node))")
            return nil
        }
        var statuses: [Int] = []
        var ok = true
        for item in items {
            if case .scalar(let s) = item, s.style == .plain, let n = Int(s.string), (100...599).contains(n) {
                statuses.append(n)
            } else {
                error(item, "step '\(id)': 'expect_status' holds \(shown(item)), not an HTTP status (100–599)")
                ok = false
            }
        }
        return ok ? statuses : nil
    }

    /// `extract: {NAME: /json/pointer or dotted.path}`.
    mutating func readExtract(_ node: Node, id: String) -> [HTTPExtraction]? {
        guard case .mapping(let mapping) = node else {
            error(node, "step '\(id)': 'extract' must be a mapping of NAME: path into the response JSON, such as {id: /data/0/id} or {id: data.0.id}")
            return nil
        }
        var list: [HTTPExtraction] = []
        var ok = true
        for (key, value) in mapping {
            let name = key.string ?? ""
            if Self.httpOutputFields.contains(name) {
                error(key, "step '\(id)': extract name '\(name)' is already an output field of http steps (\(Self.httpOutputFields.joined(separator: ", "))); choose another name")
                ok = false
                continue
            }
            if name.isEmpty || !name.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-") }) {
                error(key, "step '\(id)': extract name '\(name)' may use only letters, digits, '_' and '-'")
                ok = false
                continue
            }
            guard let path = text(value, what: "step '\(id)': extract '\(name)'") else { ok = false; continue }
            if path.contains("{{") {
                error(value, "step '\(id)': extract '\(name)' is a path into the response, not a template; write /data/0/id or data.0.id")
                ok = false
                continue
            }
            list.append(HTTPExtraction(name: name, path: path))
        }
        return ok ? list : nil
    }

    /// `egress: {allow, deny, schemes}`.
    mutating func readEgress(_ node: Node) -> EgressPolicy? {
        guard case .mapping = node else {
            error(node, "'egress' must be a mapping of \(Self.egressFields.joined(separator: ", ")), such as {allow: [\"api.example.com\", \"*.example.org\"]}")
            return nil
        }
        let f = fields(node, allowed: Self.egressFields, context: "'egress'")
        var ok = true
        func patterns(_ name: String) -> [String] {
            guard let field = f[name] else { return [] }
            guard let list = textList(field.value, what: "'egress': '\(name)'") else { ok = false; return [] }
            for pattern in list {
                if let problem = EgressPolicy.problem(with: pattern) {
                    error(field.value, "'egress': '\(name)': \(problem)")
                    ok = false
                }
            }
            return list
        }
        let allow = patterns("allow")
        let deny = patterns("deny")
        var schemes = EgressPolicy.defaultSchemes
        if let s = f["schemes"] {
            if let list = textList(s.value, what: "'egress': 'schemes'") {
                schemes = list.map { $0.lowercased() }
                if schemes.isEmpty || !schemes.allSatisfy(EgressPolicy.defaultSchemes.contains) {
                    error(s.value, "'egress': 'schemes' may list http and https (the schemes http steps speak), not \(list.joined(separator: ", "))")
                    ok = false
                }
            } else { ok = false }
        }
        return ok ? EgressPolicy(allow: allow, deny: deny, schemes: schemes) : nil
    }

    /// `circuit_breaker: {failure_threshold, window, open_for}`.
    mutating func readCircuitBreaker(_ node: Node) -> CircuitBreakerSettings? {
        guard case .mapping = node else {
            error(node, "'circuit_breaker' must be a mapping of \(Self.circuitBreakerFields.joined(separator: ", ")), such as {failure_threshold: 5, window: 60s, open_for: 30s}")
            return nil
        }
        let context = "'circuit_breaker'"
        let f = fields(node, allowed: Self.circuitBreakerFields, context: context)
        var settings = CircuitBreakerSettings.default
        var ok = true
        if let v = f["failure_threshold"] {
            if let n = positiveInt(v.value, what: "\(context): 'failure_threshold'", why: " (failures within the window that open the circuit)") {
                settings.failureThreshold = n
            } else { ok = false }
        }
        if let v = f["window"] {
            if let d = duration(v.value, what: "\(context): 'window'", allowZero: false) { settings.window = d } else { ok = false }
        }
        if let v = f["open_for"] {
            if let d = duration(v.value, what: "\(context): 'open_for'", allowZero: false) { settings.openFor = d } else { ok = false }
        }
        return ok ? settings : nil
    }

    /// `approval_policy: {non_get_http: false}` turns off gating of http steps that are not GET or HEAD.
    mutating func readNonGetHTTP(_ node: Node, into policy: ApprovalPolicy) -> ApprovalPolicy? {
        guard case .mapping(let mapping) = node, let value = mapping.first(where: { $0.key.string == "non_get_http" })?.value else { return policy }
        guard case .bool(let flag) = YAMLValue.convert(value) else {
            error(value, "'approval_policy': 'non_get_http' must be true or false, not \(shown(value))")
            return nil
        }
        var policy = policy
        policy.nonGetHTTP = flag
        return policy
    }

    /// Copies the workflow's `egress:` and `circuit_breaker:` into each http step, so a step carries
    /// the rules it runs under.
    func stampHTTPSettings(_ list: inout StepsReading, egress: EgressPolicy?, circuitBreaker: CircuitBreakerSettings?) {
        for index in list.definitions.indices {
            guard case .http(var http) = list.definitions[index].kind else { continue }
            http.egress = egress
            http.circuitBreaker = circuitBreaker ?? .default
            list.definitions[index].kind = .http(http)
        }
    }

    /// `1048576`, `512KiB`, `10MiB`, `1MB` (= 1,000,000) → bytes; nil when not a size above zero.
    static func byteCount(_ text: String) -> Int? { ByteCountText.bytes(text) }
}
