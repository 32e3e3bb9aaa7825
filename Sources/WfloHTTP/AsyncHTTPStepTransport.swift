import Foundation
import Logging
import WfloProviders

/// ``HTTPStepTransport`` over AsyncHTTPClient (NIO's singleton event loop group), with redirects
/// off and no retry of refused connections inside the client. Call ``shutdown()`` once before exit.
public final class AsyncHTTPStepTransport: HTTPStepTransport {
    /// The same client set-up and error mapping as the LLM transport; only the body limit differs.
    private let transport: AsyncHTTPTransport

    /// - Parameter maximumConnectionsPerHost: the most requests in flight to one host (``AsyncHTTPTransport``).
    public init(connectTimeout: Duration = .seconds(10),
                maximumConnectionsPerHost: Int = AsyncHTTPTransport.defaultMaximumConnectionsPerHost,
                logger: Logger = Logger(label: "wflo.http-step", factory: { _ in SwiftLogNoOpLogHandler() })) {
        transport = AsyncHTTPTransport(connectTimeout: connectTimeout, maximumConnectionsPerHost: maximumConnectionsPerHost, logger: logger)
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
