import Foundation

/// `circuit_breaker: {failure_threshold, window, open_for}`: when a host fails
/// `failureThreshold` times within `window` seconds its circuit opens; for `openFor` seconds http
/// steps calling it fail fast (or output their `fallback:`) without a request; then one probe
/// request is let through (half-open): success closes the circuit, failure opens it again.
///
/// A failure is a request that got no answer (connection refused, time-out) or an answer of
/// 408, 429 or 5xx. Refusals by the egress policy and other statuses are not failures of the host.
public struct CircuitBreakerSettings: Sendable, Hashable, Codable {
    public var failureThreshold: Int
    public var window: Double
    public var openFor: Double

    public static let `default` = CircuitBreakerSettings()

    public init(failureThreshold: Int = 5, window: Double = 60, openFor: Double = 30) {
        self.failureThreshold = failureThreshold
        self.window = window
        self.openFor = openFor
    }
}

public enum CircuitState: String, Sendable, Hashable, Codable, CaseIterable {
    case closed, open
    case halfOpen = "half_open"
}

/// What a circuit says about a request about to be sent.
public enum CircuitAdmission: Sendable, Hashable {
    /// Closed: send.
    case allowed
    /// Half-open: this request is the one probe; its result decides the circuit.
    case probe
    /// Open (or half-open with its probe in flight): do not send.
    case rejected(until: Date, lastError: String?)
}

/// The circuit of one host (`host` or `host:port`), shared by every run using the journal.
///
/// A value-type state machine: ``admitting(at:settings:)`` and ``recording(failure:error:at:settings:)``
/// return the next state; the store persists it in the same transaction that read it.
public struct CircuitRecord: Sendable, Hashable, Codable {
    public var host: String
    public var state: CircuitState
    /// Failures within the window (closed state), oldest first.
    public var failures: [Date]
    public var openedAt: Date?
    /// When an open circuit lets its probe through.
    public var openUntil: Date?
    /// When the half-open probe was let through.
    public var probeStartedAt: Date?
    public var lastError: String?
    public var updatedAt: Date

    public init(host: String, state: CircuitState = .closed, failures: [Date] = [], openedAt: Date? = nil, openUntil: Date? = nil,
                probeStartedAt: Date? = nil, lastError: String? = nil, updatedAt: Date) {
        self.host = host
        self.state = state
        self.failures = failures
        self.openedAt = openedAt
        self.openUntil = openUntil
        self.probeStartedAt = probeStartedAt
        self.lastError = lastError
        self.updatedAt = updatedAt
    }

    /// Whether a request may go now, and the state after asking. An open circuit past its
    /// `openUntil` turns half-open and admits one probe; a probe that never reported back within
    /// `openFor` seconds (its process died) is replaced by a new one.
    public func admitting(at now: Date, settings: CircuitBreakerSettings) -> (CircuitRecord, CircuitAdmission) {
        var next = self
        switch state {
        case .closed:
            return (self, .allowed)
        case .open:
            let until = openUntil ?? now
            guard now >= until else { return (self, .rejected(until: until, lastError: lastError)) }
            next.state = .halfOpen
            next.probeStartedAt = now
            next.updatedAt = now
            return (next, .probe)
        case .halfOpen:
            if let started = probeStartedAt, now.timeIntervalSince(started) < settings.openFor {
                return (self, .rejected(until: started.addingTimeInterval(settings.openFor), lastError: lastError))
            }
            next.probeStartedAt = now
            next.updatedAt = now
            return (next, .probe)
        }
    }

    /// The state after a request's result: failures within the window open a closed circuit;
    /// a half-open circuit closes on success and opens again on failure.
    public func recording(failure: Bool, error: String?, at now: Date, settings: CircuitBreakerSettings) -> CircuitRecord {
        var next = self
        next.updatedAt = now
        if failure { next.lastError = error }
        switch state {
        case .halfOpen:
            if failure {
                next.open(at: now, settings: settings)
            } else {
                next = CircuitRecord(host: host, lastError: lastError, updatedAt: now)
            }
        case .closed:
            next.failures = failures.filter { now.timeIntervalSince($0) < settings.window }
            if failure {
                next.failures.append(now)
                if next.failures.count >= settings.failureThreshold { next.open(at: now, settings: settings) }
            }
        case .open:
            // A request admitted before the circuit opened finished late: the circuit stays open.
            break
        }
        return next
    }

    private mutating func open(at now: Date, settings: CircuitBreakerSettings) {
        state = .open
        openedAt = now
        openUntil = now.addingTimeInterval(settings.openFor)
        probeStartedAt = nil
        failures = []
    }
}
