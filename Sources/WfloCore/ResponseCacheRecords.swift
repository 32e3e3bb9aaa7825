import Foundation

/// An answer kept in the LLM response cache.
public struct CacheEntry: Sendable, Hashable {
    /// SHA-256 hex of the canonical request (see `ResponseCache.key` in WfloProviders).
    public var key: String
    public var namespace: String
    public var model: String
    /// The stored response (text, finish reason, usage…).
    public var response: JSONValue
    public var createdAt: Date
    /// Nil: kept until `wflo cache clear`.
    public var expiresAt: Date?

    public init(key: String, namespace: String, model: String, response: JSONValue, createdAt: Date, expiresAt: Date?) {
        self.key = key
        self.namespace = namespace
        self.model = model
        self.response = response
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

/// A step served from the cache: journaled as a succeeded attempt that cost nothing and needed
/// no reservation, with what it saved, and the step's result, in one transaction.
public struct CacheHitRecord: Sendable, Hashable {
    public var key: String
    public var runID: String
    public var stepID: String
    public var stepType: StepType
    public var number: Int
    public var model: String
    public var usage: TokenUsage
    /// What the call would cost at the table's current prices.
    public var saved: Money
    public var output: JSONValue
    public var at: Date

    public init(key: String, runID: String, stepID: String, stepType: StepType, number: Int, model: String, usage: TokenUsage,
                saved: Money, output: JSONValue, at: Date) {
        self.key = key
        self.runID = runID
        self.stepID = stepID
        self.stepType = stepType
        self.number = number
        self.model = model
        self.usage = usage
        self.saved = saved
        self.output = output
        self.at = at
    }
}

/// `wflo cache stats`.
public struct CacheStats: Sendable, Hashable {
    public struct Namespace: Sendable, Hashable {
        public var name: String
        public var entries: Int
        public var bytes: Int
        public var hits: Int
        public init(name: String, entries: Int, bytes: Int, hits: Int) {
            self.name = name
            self.entries = entries
            self.bytes = bytes
            self.hits = hits
        }
    }

    public var entries: Int
    /// Bytes of stored responses (keys and bookkeeping not counted).
    public var bytes: Int
    /// Entries past their TTL, not yet cleared (never served).
    public var expired: Int
    /// Steps served from the cache, over all runs in the journal.
    public var hits: Int
    /// What those hits would have cost, priced when each was served.
    public var savings: Money
    public var namespaces: [Namespace]

    public init(entries: Int, bytes: Int, expired: Int, hits: Int, savings: Money, namespaces: [Namespace]) {
        self.entries = entries
        self.bytes = bytes
        self.expired = expired
        self.hits = hits
        self.savings = savings
        self.namespaces = namespaces
    }
}
