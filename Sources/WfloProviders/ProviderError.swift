import Foundation
import WfloCore

/// A failed LLM or HTTP call, classified for the retry policy.
///
/// ``message`` always says which provider, model, host or file is involved and carries the
/// provider's own error message and code when it sent one; ``isRetryable`` is what the
/// engine's retry policy consults; ``retryAfter`` is the provider's `retry-after` (or
/// `retry-after-ms`) in seconds.
public struct ProviderError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kinds are core's (``CallErrorKind``), so a step's `non_retryable_errors` names them as they are.
    public typealias Kind = CallErrorKind

    public var kind: Kind
    public var status: Int?
    /// What went wrong, with the provider's own message when it gave one.
    public var message: String
    /// Seconds the provider asked us to wait (`retry-after`).
    public var retryAfter: Double?

    public init(_ kind: Kind, status: Int? = nil, message: String, retryAfter: Double? = nil) {
        self.kind = kind
        self.status = status
        self.message = message
        self.retryAfter = retryAfter
    }

    /// Rate limits (but not an exhausted quota), 408/409, server errors, overload, time-outs,
    /// dropped connections and garbled responses are worth another attempt; other client
    /// errors are not.
    public var isRetryable: Bool {
        switch kind {
        case .rateLimited, .overloaded, .server, .timeout, .connection, .malformedResponse: return true
        case .quotaExceeded, .badRequest, .authentication, .permission, .notFound, .requestTooLarge, .notInCassette, .missingAPIKey, .cassette: return false
        }
    }

    /// The request was sent and its answer never came (a timeout): the provider may have billed
    /// it, so a paid call that ends this way stays charged at its reservation (``AttemptFinish/unanswered(attemptID:runID:stepID:error:stepStatus:at:)``).
    /// A time-out is counted even when it may have struck while connecting: when it cannot be
    /// told, the budget stays safe.
    public var isUnanswered: Bool { kind == .timeout }

    public var description: String {
        var text = message
        if let status { text = "HTTP \(status): " + text }
        return text
    }

    /// Classifies an HTTP error status (with the provider's error code, if any).
    public static func kind(status: Int, code: String?) -> Kind {
        switch status {
        case 429: return code == "insufficient_quota" ? .quotaExceeded : .rateLimited
        case 408, 409: return .server
        case 400, 422: return code == "insufficient_quota" ? .quotaExceeded : .badRequest
        case 401: return .authentication
        case 403: return .permission
        case 404: return .notFound
        case 413: return .requestTooLarge
        case 529: return .overloaded
        case _ where code == "overloaded_error": return .overloaded
        case 500...599: return .server
        default: return .badRequest
        }
    }
}
