import Foundation
import WfloCore
import WfloProviders

/// An http step's request, rendered (secrets included: it never leaves this file unredacted).
struct RenderedHTTPRequest: Sendable {
    var method: String
    var url: URL
    var headers: [HTTPExchange.Header]
    var body: [UInt8]

    /// What a person approving the step sees (redact before showing or storing).
    var details: JSONValue {
        var headerObject: [String: JSONValue] = [:]
        for header in headers { headerObject[header.name] = .string(header.value) }
        var object: [String: JSONValue] = ["type": "http", "method": .string(method), "url": .string(url.absoluteString),
                                           "headers": .object(headerObject)]
        if !body.isEmpty { object["body"] = .string(String(decoding: body, as: UTF8.self)) }
        return .object(object)
    }
}

/// Why an exchange ended without a usable response, classified for retries and the circuit.
struct HTTPStepFailure: Error, Sendable {
    var message: String
    /// Worth another attempt (when the request is idempotent).
    var retryable: Bool
    /// Counts against the host's circuit (no answer, or 408/429/5xx).
    var hostFailure: Bool
    var retryAfter: Double?
    /// The host answered (the problem is the answer): a success for the circuit.
    var answered = false
}

/// Runs `http` steps: render (secrets resolved here only), gate, check the circuit, check egress
/// for every hop, send, follow redirects, check the status, extract — and journal everything
/// through the secrets' ``Redactor``, so no value leaves this file in clear.
extension StepRunner {
    func runHTTP(_ step: StepDefinition, _ definition: HTTPStepDefinition, scope: TemplateScope, firstAttempt: Int) async throws -> StepOutcome {
        let started = configuration.now()
        let redactor = configuration.secrets.redactor
        var requestScope = scope
        requestScope.secrets = configuration.secrets
        let request: RenderedHTTPRequest
        do {
            request = try Self.render(definition, scope: requestScope)
        } catch let error as EngineError {
            return try await failHTTP(step, message: error.message, at: started)
        }
        let preview = "\(request.method) \(request.url.absoluteString)"
        let gate = GateRequest(details: redactor.redact(request.details).objectValue ?? [:], worstCase: nil, preview: redactor.redact(preview))
        return try await driver.runStep(step, startedAt: started, gate: gate) {
            guard let transport = configuration.http else {
                return .answered(try await failHTTP(step, message: "this executor has no HTTP client for http steps (ExecutorConfiguration.http is nil)",
                                                    at: started))
            }
            // What the scheme and the name alone refuse is refused before DNS, the circuit or the journal's attempt.
            let egress = EgressGuard(policy: definition.egress, resolver: configuration.resolver,
                                     user: configuration.userEgress.map { ($0.policy, $0.file) })
            if let refusal = egress.refusal(scheme: request.url.scheme ?? "", host: request.url.host ?? "", addresses: nil) {
                return .answered(try await failHTTP(step, message: refusal.description + "; no connection was made", at: started))
            }
            let circuitHost = Self.circuitKey(request.url)
            let settings = definition.circuitBreaker
            let policy = definition.isIdempotent ? (step.retry ?? .default) : .none
            let timeout = step.timeout ?? HTTPStepDefinition.defaultTimeout
            let span = AttemptSpanInfo(name: request.method, isClient: true,
                                       attributes: ["http.request.method": .string(request.method),
                                                    "url.full": .string(redactor.redact(request.url.absoluteString))])
            let call = AttemptOffer<StepOutcome>(model: nil, worstCase: .zero, span: span) { [self] attempt in
                do {
                    let output = try await callHTTP(request, definition, egress: egress, transport: transport, timeout: timeout,
                                                    circuitHost: circuitHost, preview: preview)
                    var charge = AttemptCharge(output: output)
                    if let status = output["status"]?.intValue { charge.spanAttributes["http.response.status_code"] = .int(status) }
                    return .settled(.completed(output), charge)
                } catch let failure as HTTPStepFailure {
                    var suffix = ""
                    if failure.retryable && attempt > 1 {
                        suffix = " (after \(attempt) attempts)"
                    } else if failure.retryable && !definition.isIdempotent {
                        suffix = " (not retried: \(request.method) is not idempotent; add `idempotent: true` or an Idempotency-Key header to allow retries)"
                    }
                    return .failed(AttemptFailure(message: redactor.redact(failure.message), retryable: failure.retryable,
                                                  retryAfter: failure.retryAfter, finalSuffix: suffix))
                }
            }
            // An open circuit fails fast (or outputs the step's `fallback:`) before each attempt: no request is made.
            let admit: @Sendable () async throws -> StepOutcome? = { [self] in
                guard case .rejected(let until, let lastError) = try await configuration.store.admitCircuit(host: circuitHost, settings: settings,
                                                                                                          at: configuration.now()) else { return nil }
                return try await circuitOpen(step, definition, scope: scope, host: circuitHost, until: until, lastError: lastError, at: started)
            }
            return .attempts(AttemptPlan(stepID: step.id, stepType: .http, policy: policy, firstAttempt: firstAttempt, paid: false,
                                         offer: call, admit: admit))
        }
    }

    /// One attempt's exchange: sends, records the host's answer (or silence) in its circuit,
    /// checks the status and extracts the output, redacted.
    /// - Throws: ``HTTPStepFailure`` when the exchange ends without a usable response.
    func callHTTP(_ request: RenderedHTTPRequest, _ definition: HTTPStepDefinition, egress: EgressGuard, transport: any HTTPStepTransport,
                  timeout: Double, circuitHost: String, preview: String) async throws -> JSONValue {
        let redactor = configuration.secrets.redactor
        let settings = definition.circuitBreaker
        let response: HTTPExchange.Response
        let finalURL: URL
        let redirects: Int
        do {
            (response, finalURL, redirects) = try await exchange(request, definition: definition, egress: egress, transport: transport, timeout: timeout)
        } catch let problem as HTTPStepFailure {
            if problem.hostFailure || problem.answered {
                try await configuration.store.recordCircuitResult(host: circuitHost, failure: problem.hostFailure,
                                                                  error: redactor.redact(problem.message), settings: settings,
                                                                  at: configuration.now())
            }
            throw problem
        }
        let hostFailure = Self.isHostFailure(status: response.status)
        try await configuration.store.recordCircuitResult(host: circuitHost, failure: hostFailure,
                                                          error: hostFailure ? redactor.redact("HTTP \(response.status) from \(preview)") : nil,
                                                          settings: settings, at: configuration.now())
        guard definition.accepts(status: response.status) else {
            let expected = definition.expectStatus.isEmpty ? "2xx" : definition.expectStatus.map(String.init).joined(separator: ", ")
            var message = "HTTP \(response.status) from \(request.method) \(finalURL.absoluteString), expected \(expected)"
            let text = redactor.excerpt(response.body, limit: 300)
            if !text.isEmpty { message += ": " + text }
            throw HTTPStepFailure(message: message, retryable: hostFailure, hostFailure: hostFailure,
                                  retryAfter: response.header("Retry-After").flatMap { RetryAfter.seconds($0, now: configuration.now()) })
        }
        return redactor.redact(try Self.output(of: response, url: finalURL, redirects: redirects, definition: definition))
    }

    /// Sends the request and follows redirects up to `follow_redirects`, checking every hop
    /// against egress before connecting. 303 (and 301/302 after a POST) continue as GET without
    /// a body; a hop to another origin drops Authorization, Cookie and Proxy-Authorization.
    func exchange(_ request: RenderedHTTPRequest, definition: HTTPStepDefinition, egress: EgressGuard,
                  transport: any HTTPStepTransport, timeout: Double) async throws -> (HTTPExchange.Response, URL, Int) {
        let clock = ContinuousClock()
        let start = clock.now
        let limit = Duration.milliseconds(Int64(timeout * 1000))
        var method = request.method
        var headers = request.headers
        var body = request.body
        var url = request.url
        var redirects = 0
        while true {
            let target: EgressCheckedTarget
            do {
                target = try await egress.check(url)
            } catch let refusal as EgressRefusal {
                let hop = redirects > 0 ? "redirect to \(url.absoluteString) refused by egress: " : "egress refused: "
                throw HTTPStepFailure(message: hop + refusal.message + "; no connection was made", retryable: false, hostFailure: false)
            } catch let error as EgressResolutionError {
                throw HTTPStepFailure(message: error.description, retryable: true, hostFailure: true)
            }
            var sent = headers
            if definition.propagatesTraceContext { RunTelemetry.injectTraceparent(into: &sent) }
            if let hostHeader = target.hostHeader, !sent.contains(where: { $0.name.caseInsensitiveCompare("Host") == .orderedSame }) {
                sent.append(HTTPExchange.Header("Host", hostHeader))
            }
            // The step's timeout runs from the first send (the transport times the first hop from it):
            // a wait for a pooled connection is not spent from it; redirect hops share what is left.
            let remaining = redirects == 0 ? limit : (RequestSendMark.current?.sentAt ?? start) + limit - clock.now
            guard remaining > .zero else {
                throw HTTPStepFailure(message: "no answer from \(target.host) within the step's timeout of \(DurationText.describe(timeout))",
                                      retryable: true, hostFailure: true)
            }
            let response: HTTPExchange.Response
            do {
                response = try await transport.send(HTTPExchange.Request(method: method, url: target.connectURL, headers: sent, body: body),
                                                    timeout: remaining, maximumResponseBytes: definition.maxResponseBytes)
            } catch let error as ProviderError {
                let host = url.port.map { "\(target.host):\($0)" } ?? target.host
                let message = error.kind == .timeout ? "no answer from \(host) within the step's timeout of \(DurationText.describe(timeout))" : error.message
                throw HTTPStepFailure(message: message, retryable: error.isRetryable, hostFailure: true)
            } catch let error as ResponseTooLargeError {
                throw HTTPStepFailure(message: error.description, retryable: false, hostFailure: false, answered: true)
            }
            guard [301, 302, 303, 307, 308].contains(response.status), definition.followRedirects > 0,
                  let location = response.header("Location") else {
                return (response, url, redirects)
            }
            guard redirects < definition.followRedirects else {
                throw HTTPStepFailure(message: "more than \(definition.followRedirects) redirects (follow_redirects: \(definition.followRedirects)); the last one, from \(url.absoluteString), was to \(location)",
                                      retryable: false, hostFailure: false, answered: true)
            }
            guard let next = URL(string: location, relativeTo: url)?.absoluteURL, next.host != nil else {
                throw HTTPStepFailure(message: "HTTP \(response.status) from \(url.absoluteString) redirects to '\(location)', which is not a URL",
                                      retryable: false, hostFailure: false, answered: true)
            }
            if response.status == 303 || ([301, 302].contains(response.status) && method == "POST") {
                method = method == "HEAD" ? "HEAD" : "GET"
                body = []
                headers.removeAll { ["content-type", "content-length"].contains($0.name.lowercased()) }
            }
            if Self.origin(next) != Self.origin(url) {
                headers.removeAll { ["authorization", "cookie", "proxy-authorization"].contains($0.name.lowercased()) }
            }
            url = next
            redirects += 1
        }
    }

    /// The step fails (or outputs its `fallback:`) because `host`'s circuit is open: no request was made.
    private func circuitOpen(_ step: StepDefinition, _ definition: HTTPStepDefinition, scope: TemplateScope, host: String,
                             until: Date, lastError: String?, at started: Date) async throws -> StepOutcome {
        let when = ISO8601DateFormatter().string(from: until)
        if let fallback = definition.fallback {
            let output: JSONValue
            do {
                output = configuration.secrets.redactor.redact(try scope.render(fallback))
            } catch let error as EngineError {
                return try await failHTTP(step, message: "fallback: " + error.message, at: started)
            }
            let now = configuration.now()
            try await configuration.store.recordStep(StepRecord(runID: runID, stepID: step.id, type: .http, status: .completed,
                                                  output: output, startedAt: started, finishedAt: now),
                                       event: EventRecord(runID: runID, stepID: step.id, kind: .stepCompleted,
                                                          data: ["fallback": true, "circuit_open": .string(host), "until": .string(when)], at: now))
            configuration.observer.observe(.stepCompleted(stepID: step.id, cost: .zero, usage: nil, seconds: now.timeIntervalSince(started)))
            return .completed(output)
        }
        var message = "the circuit for \(host) is open until \(when) after repeated failures"
        if let lastError { message += " (last: \(lastError))" }
        message += "; failing fast without a request. Add `fallback:` to the step to go on with a value, or close it with `wflo circuits reset \(host)`"
        return try await failHTTP(step, message: message, at: started, data: ["circuit_open": .string(host)])
    }

    /// Journals the step as failed with no attempt (nothing was sent), the message redacted.
    private func failHTTP(_ step: StepDefinition, message raw: String, at started: Date, data: [String: JSONValue] = [:]) async throws -> StepOutcome {
        try await recordFailure(step, message: configuration.secrets.redactor.redact(raw), at: started, data: data)
    }

    // MARK: rendering and output

    /// Renders the URL (with `query:` appended), headers and body.
    /// - Throws: ``EngineError`` for a missing input, secret or step output, a URL that is not
    ///   absolute, or a header value with a line break.
    static func render(_ definition: HTTPStepDefinition, scope: TemplateScope) throws -> RenderedHTTPRequest {
        let text = try scope.renderText(definition.url)
        guard var components = URLComponents(string: text), components.scheme != nil, let host = components.host, !host.isEmpty else {
            throw EngineError(.configuration, "url '\(text)' is not an absolute URL such as https://api.example.com/v1/items")
        }
        if !definition.query.isEmpty {
            var query = components.percentEncodedQuery.map { [$0] } ?? []
            for item in definition.query {
                let value = try scope.renderText(item.value)
                query.append(percentEncode(item.name) + "=" + percentEncode(value))
            }
            components.percentEncodedQuery = query.joined(separator: "&")
        }
        guard let url = components.url else {
            throw EngineError(.configuration, "url '\(text)' is not a valid URL")
        }
        var headers: [HTTPExchange.Header] = []
        for field in definition.headers {
            let value = try scope.renderText(field.value)
            if value.contains(where: { $0 == "\r" || $0 == "\n" }) {
                throw EngineError(.configuration, "header '\(field.name)' would contain a line break; a header value must be one line")
            }
            headers.append(HTTPExchange.Header(field.name, value))
        }
        var body: [UInt8] = []
        var contentType: String?
        switch definition.body {
        case .text(let template)?:
            body = Array(try scope.renderText(template).utf8)
            contentType = "text/plain; charset=utf-8"
        case .json(let value)?:
            body = Array(try scope.render(value).encoded(sorted: true).utf8)
            contentType = "application/json"
        case nil:
            break
        }
        if let contentType, !headers.contains(where: { $0.name.caseInsensitiveCompare("Content-Type") == .orderedSame }) {
            headers.append(HTTPExchange.Header("Content-Type", contentType))
        }
        return RenderedHTTPRequest(method: definition.method, url: url, headers: headers, body: body)
    }

    /// `{status, headers, body, json?, url, redirects}` plus the `extract:` fields.
    /// - Throws: ``HTTPStepFailure`` (final) when an extract path finds nothing.
    static func output(of response: HTTPExchange.Response, url: URL, redirects: Int, definition: HTTPStepDefinition) throws -> JSONValue {
        var headers: [String: JSONValue] = [:]
        for header in response.headers {
            let key = header.name.lowercased()
            headers[key] = .string(headers[key]?.stringValue.map { $0 + ", " + header.value } ?? header.value)
        }
        var object: [String: JSONValue] = [
            "status": .int(response.status), "headers": .object(headers),
            "body": .string(String(decoding: response.body, as: UTF8.self)),
            "url": .string(url.absoluteString), "redirects": .int(redirects),
        ]
        let contentType = response.header("Content-Type")?.lowercased() ?? ""
        var json: JSONValue?
        if contentType.contains("json"), !response.body.isEmpty {
            json = try? response.body.withUnsafeBufferPointer { try JSONValue.parse(bytes: $0) }
            object["json"] = json
        }
        for extraction in definition.extract {
            guard let json else {
                throw HTTPStepFailure(message: "extract '\(extraction.name)': the response is not JSON (Content-Type: \(contentType.isEmpty ? "none" : contentType))",
                                      retryable: false, hostFailure: false)
            }
            guard let value = json.value(at: extraction.components) else {
                throw HTTPStepFailure(message: "extract '\(extraction.name)': the response JSON has nothing at '\(extraction.path)'",
                                      retryable: false, hostFailure: false)
            }
            object[extraction.name] = value
        }
        return .object(object)
    }

    /// A response that says the host is in trouble: 408, 429 and 5xx.
    static func isHostFailure(status: Int) -> Bool {
        status == 408 || status == 429 || (500...599).contains(status)
    }

    /// The circuit's key: the host, with the port when the URL names one.
    static func circuitKey(_ url: URL) -> String {
        let host = EgressPolicy.normalize(host: url.host ?? "")
        guard let port = url.port else { return host }
        return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    static func origin(_ url: URL) -> String {
        let scheme = url.scheme?.lowercased() ?? ""
        let port = url.port ?? (scheme == "https" ? 443 : 80)
        return "\(scheme)://\(EgressPolicy.normalize(host: url.host ?? "")):\(port)"
    }

    /// The one `query:` encoding, which the ``Redactor`` also masks.
    static func percentEncode(_ text: String) -> String {
        Redactor.percentEncode(text)
    }

}
