import Foundation

/// An `http` step: one request (redirects followed hop by hop, each re-checked against the
/// egress policy), its status check, and fields taken from the answer.
///
/// The step's output is `{status, headers, body, json?, url, redirects}` plus one field per
/// `extract:` entry. `url`, `query`, `headers` and `body`/`json` may use `{{secrets.NAME}}`;
/// whatever the step writes holds `[secret:NAME]` instead of the value (invariant 6).
public struct HTTPStepDefinition: Sendable, Hashable, Codable {
    /// Upper case: GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS.
    public var method: String
    public var url: Template
    /// Query parameters appended to the URL's own, percent-encoded, in file order.
    public var query: [HTTPField]
    /// Request headers, in file order.
    public var headers: [HTTPField]
    public var body: HTTPBodyTemplate?
    /// Statuses that count as success; empty means any 2xx.
    public var expectStatus: [Int]
    /// Output field name → a JSON pointer (`/data/0/id`) or dotted path (`data.0.id`) into the response JSON.
    public var extract: [HTTPExtraction]
    /// Redirects followed at most; 0 returns the 3xx response itself.
    public var followRedirects: Int
    /// A larger response body fails the step (and is never read past the limit).
    public var maxResponseBytes: Int
    /// `idempotent:` as written. Nil: GET, HEAD, PUT, DELETE and OPTIONS are, and so is any request
    /// with an `Idempotency-Key` header. Only idempotent requests are retried.
    public var idempotent: Bool?
    /// Output of the step when its host's circuit is open (no request is made). Templated like a
    /// transform's output; may not use secrets.
    public var fallback: TemplateValue?
    /// The workflow's `egress:` block, copied here by the parser so the step carries the policy it
    /// runs under. Nil: public hosts only, over http and https.
    public var egress: EgressPolicy?
    /// The workflow's `circuit_breaker:` block (or the defaults), copied here by the parser.
    public var circuitBreaker: CircuitBreakerSettings
    /// `trace_context:` as written (nil: not written). Optional so definitions journaled before it decode unchanged.
    public var traceContext: Bool?
    /// Sends the W3C `traceparent` of the call's span to the service (`trace_context: false` turns it off).
    public var propagatesTraceContext: Bool { traceContext ?? true }

    public static let methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    public static let idempotentMethods: Set<String> = ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"]
    public static let defaultFollowRedirects = 5
    public static let defaultMaxResponseBytes = 10 << 20
    /// Seconds the whole exchange (redirects included) may take when the step sets no `timeout`.
    public static let defaultTimeout: Double = 30

    public init(method: String = "GET", url: Template, query: [HTTPField] = [], headers: [HTTPField] = [],
                body: HTTPBodyTemplate? = nil, expectStatus: [Int] = [], extract: [HTTPExtraction] = [],
                followRedirects: Int = HTTPStepDefinition.defaultFollowRedirects,
                maxResponseBytes: Int = HTTPStepDefinition.defaultMaxResponseBytes, idempotent: Bool? = nil,
                fallback: TemplateValue? = nil, egress: EgressPolicy? = nil,
                circuitBreaker: CircuitBreakerSettings = .default) {
        self.method = method.uppercased()
        self.url = url
        self.query = query
        self.headers = headers
        self.body = body
        self.expectStatus = expectStatus
        self.extract = extract
        self.followRedirects = followRedirects
        self.maxResponseBytes = maxResponseBytes
        self.idempotent = idempotent
        self.fallback = fallback
        self.egress = egress
        self.circuitBreaker = circuitBreaker
    }

    /// The templates that build the request: the only ones that may use `{{secrets.NAME}}`.
    public var requestTemplates: [Template] {
        var all = [url] + query.map(\.value) + headers.map(\.value)
        switch body {
        case .text(let t)?: all.append(t)
        case .json(let v)?: all += v.templates
        case nil: break
        }
        return all
    }

    public var templates: [Template] { requestTemplates + (fallback?.templates ?? []) }

    /// Whether sending the request twice is harmless, so failed attempts may be retried.
    public var isIdempotent: Bool {
        if let idempotent { return idempotent }
        return Self.idempotentMethods.contains(method)
            || headers.contains { $0.name.caseInsensitiveCompare("Idempotency-Key") == .orderedSame }
    }

    /// Whether `status` counts as success.
    public func accepts(status: Int) -> Bool {
        expectStatus.isEmpty ? (200...299).contains(status) : expectStatus.contains(status)
    }
}

/// A header or query parameter: a fixed name and a templated value.
public struct HTTPField: Sendable, Hashable, Codable {
    public var name: String
    public var value: Template
    public init(name: String, value: Template) {
        self.name = name
        self.value = value
    }
}

/// `body:` (text, sent as `text/plain; charset=utf-8` unless a Content-Type header says otherwise)
/// or `json:` (a value, sent as `application/json`).
public enum HTTPBodyTemplate: Sendable, Hashable, Codable {
    case text(Template)
    case json(TemplateValue)
}

/// One `extract:` entry: an output field taken from the response JSON.
public struct HTTPExtraction: Sendable, Hashable, Codable {
    public var name: String
    /// As written: `/a/0/b` (JSON pointer, RFC 6901) or `a.0.b`.
    public var path: String

    public init(name: String, path: String) {
        self.name = name
        self.path = path
    }

    /// The keys (and array indexes) the path walks.
    public var components: [String] {
        if path.isEmpty { return [] }
        if path.hasPrefix("/") {
            return path.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map {
                $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            }
        }
        return path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    }
}

/// Where http steps may connect: `egress: {allow, deny, schemes}`.
///
/// Rules, checked for the first request and every redirect, against the host name and every
/// address DNS gives for it:
/// 1. the URL's scheme must be in `schemes` (default http, https);
/// 2. a host (or one of its addresses) matching `deny` is refused — deny wins;
/// 3. when `allow` is not empty, the host must match it (an address range matches when every
///    address of the host is in it);
/// 4. loopback, private, link-local and other non-public addresses are refused unless `allow`
///    lists them: an address or range holding them, or the host's exact name (a wildcard is not
///    enough, so a public name cannot be pointed at an internal address).
///
/// Patterns: `*` (any name), `*.example.com` (its subdomains, not itself), `api.example.com`,
/// an address (`127.0.0.1`, `::1`) or a range (`10.0.0.0/8`). Ports are not part of a pattern.
public struct EgressPolicy: Sendable, Hashable, Codable {
    public var allow: [String]
    public var deny: [String]
    public var schemes: [String]

    public static let defaultSchemes = ["http", "https"]
    /// No `egress:` block: public hosts over http and https.
    public static let `default` = EgressPolicy()

    public init(allow: [String] = [], deny: [String] = [], schemes: [String] = EgressPolicy.defaultSchemes) {
        self.allow = allow
        self.deny = deny
        self.schemes = schemes.map { $0.lowercased() }
    }

    /// What is wrong with a pattern as written, or nil when it is one.
    public static func problem(with pattern: String) -> String? {
        let p = pattern.trimmingCharacters(in: .whitespaces)
        if p.isEmpty { return "an empty pattern matches nothing" }
        if p.contains("://") || p.contains("/") && IPNetwork(p) == nil {
            return "'\(p)' is not a host: write a name (api.example.com), a wildcard (*.example.com), an address (127.0.0.1) or a range (10.0.0.0/8), without scheme or path"
        }
        if IPNetwork(p) != nil { return nil }
        if p.contains(":") { return "'\(p)' has a port or is not an address; patterns match hosts on any port" }
        if p == "*" { return nil }
        let name = p.hasPrefix("*.") ? String(p.dropFirst(2)) : p
        if name.contains("*") { return "'\(p)': a wildcard is only allowed as the first label, as in *.example.com" }
        let ok = name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            !label.isEmpty && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
        }
        return ok ? nil : "'\(p)' is not a host name"
    }

    /// Lower case, without brackets or a trailing dot.
    public static func normalize(host: String) -> String {
        var h = host.lowercased()
        if h.hasPrefix("["), h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
        if h.hasSuffix(".") { h.removeLast() }
        return h
    }

    /// Why a request to `host` (whose DNS answers are `addresses`) over `scheme` is refused, or
    /// nil when it may go. `declared` is false when the workflow has no `egress:` block (the
    /// message then names the default rule).
    ///
    /// With `addresses` nil (not resolved yet) only what the scheme and the name tell is checked,
    /// so a denied name is refused before DNS is asked; an address written as the host is always
    /// checked as its own answer.
    ///
    /// `user` names the user-level policy's file when this is that policy: it restricts schemes
    /// and hosts but leaves the loopback/private rule to the workflow's own policy.
    public func refusal(scheme: String, host rawHost: String, addresses resolved: [IPAddress]?, declared: Bool = true,
                        user: String? = nil) -> EgressRefusal? {
        let host = Self.normalize(host: rawHost)
        let literal = IPAddress(host)
        let addresses = resolved ?? literal.map { [$0] } ?? []
        let deferred = resolved == nil && literal == nil
        let rule = user.map { "the user egress policy \($0)" }
            ?? (declared ? "the workflow's egress" : "the default egress rule (no egress: block: public hosts only)")
        let owner = user.map { "user egress policy \($0)" } ?? "egress"
        if !schemes.contains(scheme.lowercased()) {
            return EgressRefusal(host: host, message: "scheme '\(scheme)' is not allowed by \(rule): schemes \(Self.list(schemes))")
        }
        for pattern in deny {
            let p = Pattern(pattern)
            if p.matches(name: host) {
                return EgressRefusal(host: host, message: "host '\(host)' is denied by \(owner) rule deny '\(pattern)'")
            }
            if case .network(let network) = p, let hit = addresses.first(where: network.contains) {
                return EgressRefusal(host: host, message: "host '\(host)' resolves to \(hit), denied by \(owner) rule deny '\(pattern)'")
            }
        }
        if !allow.isEmpty {
            let allowed = allow.contains { pattern in
                let p = Pattern(pattern)
                if p.matches(name: host) { return true }
                if case .network(let network) = p { return deferred || (!addresses.isEmpty && addresses.allSatisfy(network.contains)) }
                return false
            }
            if !allowed {
                let fix = user == nil ? "add it to egress.allow to call it" : "add it to that file's allow to call it"
                return EgressRefusal(host: host, message: "host '\(host)' is not allowed by \(owner) rule allow \(Self.list(allow)); \(fix)")
            }
        }
        if user != nil { return nil }
        for address in addresses {
            guard let kind = address.nonPublicKind else { continue }
            let listed = allow.contains { pattern in
                switch Pattern(pattern) {
                case .network(let network): return network.contains(address)
                case .exact(let name): return name == host
                default: return false
                }
            }
            if !listed {
                let shown = IPAddress(host) != nil ? "host '\(host)' is a \(kind) address" : "host '\(host)' resolves to \(address), a \(kind) address"
                return EgressRefusal(host: host, message: "\(shown), refused by \(rule): loopback, private and link-local addresses need an egress.allow entry naming them (e.g. allow: [\"\(address)\"])")
            }
        }
        return nil
    }

    static func list(_ items: [String]) -> String { "[" + items.joined(separator: ", ") + "]" }

    enum Pattern {
        case any
        case subdomains(of: String)
        case exact(String)
        case network(IPNetwork)

        init(_ text: String) {
            let p = EgressPolicy.normalize(host: text.trimmingCharacters(in: .whitespaces))
            if p == "*" {
                self = .any
            } else if let network = IPNetwork(p) {
                self = .network(network)
            } else if p.hasPrefix("*.") {
                self = .subdomains(of: String(p.dropFirst(2)))
            } else {
                self = .exact(p)
            }
        }

        func matches(name host: String) -> Bool {
            switch self {
            case .any: return IPAddress(host) == nil
            case .subdomains(let suffix): return host.hasSuffix("." + suffix)
            case .exact(let name): return host == name
            case .network(let network): return IPAddress(host).map(network.contains) ?? false
            }
        }
    }
}

/// A request egress refused: no connection was made. `message` names the host and the rule.
public struct EgressRefusal: Error, Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var message: String
    public init(host: String, message: String) {
        self.host = host
        self.message = message
    }
    public var description: String { "egress refused: " + message }
}

extension StepDefinition {
    /// The method of an http step; nil for other steps. What ``ApprovalPolicy/reason(risk:worstCase:httpMethod:)`` needs.
    public var httpMethod: String? {
        if case .http(let http) = kind { return http.method }
        return nil
    }
}
