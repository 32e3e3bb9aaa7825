import Foundation

/// Sends the requests of `http` steps: one exchange, no redirects followed (the engine follows
/// them itself, re-checking each hop against the egress policy), the body read up to a limit.
public protocol HTTPStepTransport: Sendable {
    /// - Throws: ``ProviderError`` `.timeout` or `.connection` when no response came,
    ///   ``ResponseTooLargeError`` when the body passes `maximumResponseBytes` (reading stops there),
    ///   `CancellationError` when the task was cancelled. An HTTP error status is a response.
    func send(_ request: HTTPExchange.Request, timeout: Duration, maximumResponseBytes: Int) async throws -> HTTPExchange.Response
}

/// A response body passed the step's `max_response_bytes`; the rest was not read.
public struct ResponseTooLargeError: Error, Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var limit: Int
    public init(host: String, limit: Int) {
        self.host = host
        self.limit = limit
    }
    public var description: String {
        "the response from \(host) is larger than max_response_bytes (\(limit) bytes); raise max_response_bytes if it is expected"
    }
}
