import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

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

/// ``HTTPStepTransport`` over AsyncHTTPClient (NIO's singleton event loop group), with redirects
/// off and no retry of refused connections inside the client. Call ``shutdown()`` once before exit.
public final class AsyncHTTPStepTransport: HTTPStepTransport {
    /// The same client set-up and error mapping as the LLM transport; only the body limit differs.
    private let transport: AsyncHTTPTransport

    public init(connectTimeout: Duration = .seconds(10),
                logger: Logger = Logger(label: "wflo.http-step", factory: { _ in SwiftLogNoOpLogHandler() })) {
        transport = AsyncHTTPTransport(connectTimeout: connectTimeout, logger: logger)
    }

    public func send(_ request: HTTPExchange.Request, timeout: Duration, maximumResponseBytes: Int) async throws -> HTTPExchange.Response {
        try await transport.exchange(request, timeout: timeout, maximumResponseBytes: maximumResponseBytes) { host in
            ResponseTooLargeError(host: host, limit: maximumResponseBytes)
        }
    }

    /// Closes the client's connections. Call it once; the transport cannot send afterwards.
    public func shutdown() async throws {
        try await transport.shutdown()
    }
}
