import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import WfloProviders

/// The network transport: one shared AsyncHTTPClient (on NIO's singleton event loop group).
///
/// Time-outs and connection failures become ``ProviderError`` of kind `.timeout` and
/// `.connection`; an HTTP error status is returned as a response. Redirects are not followed,
/// and a refused connection fails at once rather than being retried inside the client.
/// Call ``shutdown()`` once, before the process exits.
///
/// Calls to one host run on as many connections as ``maximumConnectionsPerHost`` (AsyncHTTPClient
/// keeps 8 by default, which held `max_parallel: 32` to 8 calls in flight, the others waiting for a
/// connection inside their attempt's time and `timeout:`).
public final class AsyncHTTPTransport: HTTPTransport {
    private let client: HTTPClient
    private let logger: Logger
    /// Responses larger than this are refused (protects memory from a misbehaving server).
    public let maximumResponseBytes: Int
    /// How many connections to one host may be open at once: the most calls to it in flight.
    public let maximumConnectionsPerHost: Int
    /// The default of ``maximumConnectionsPerHost``: above any `max_parallel` a workflow commonly sets.
    public static let defaultMaximumConnectionsPerHost = 256

    /// - Parameters:
    ///   - maximumResponseBytes: a larger body fails with `.malformedResponse`.
    ///   - connectTimeout: how long to wait for a TCP (and TLS) connection.
    ///   - maximumConnectionsPerHost: the most calls in flight to one host (at least 1); more wait for a connection.
    ///   - logger: where the HTTP client logs; silent by default.
    public init(maximumResponseBytes: Int = 32 << 20, connectTimeout: Duration = .seconds(10),
                maximumConnectionsPerHost: Int = AsyncHTTPTransport.defaultMaximumConnectionsPerHost,
                logger: Logger = Logger(label: "wflo.http", factory: { _ in SwiftLogNoOpLogHandler() })) {
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = .nanoseconds(Self.nanoseconds(connectTimeout))
        self.maximumConnectionsPerHost = max(1, maximumConnectionsPerHost)
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = self.maximumConnectionsPerHost
        configuration.redirectConfiguration = .disallow
        // Fail fast when the host refuses: the engine's retry policy decides (and journals) retries.
        configuration.connectionPool.retryConnectionEstablishment = false
        // The engine's attempt spans are the client spans (with the exact cost on them, and no
        // children to count it twice); http steps send their traceparent themselves.
        configuration.tracing.tracer = nil
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration, backgroundActivityLogger: logger)
        self.maximumResponseBytes = maximumResponseBytes
        self.logger = logger
    }

    /// Sends the request and collects the whole response body.
    /// - Throws: ``ProviderError`` `.timeout` when no complete answer came within `timeout`,
    ///   `.connection` when the host cannot be reached or closed the connection,
    ///   `.malformedResponse` when the body exceeds ``maximumResponseBytes``;
    ///   `CancellationError` when the task was cancelled.
    public func send(_ request: HTTPExchange.Request, timeout: Duration) async throws -> HTTPExchange.Response {
        let limit = maximumResponseBytes
        return try await exchange(request, timeout: timeout, maximumResponseBytes: limit) { host in
            ProviderError(.malformedResponse, message: "the response from \(host) is larger than \(limit) bytes")
        }
    }

    /// One exchange with a body limit of the caller's; `tooLarge` makes the error for a body past it
    /// (given the host). The one place AsyncHTTPClient's errors become wflo's.
    func exchange(_ request: HTTPExchange.Request, timeout: Duration, maximumResponseBytes limit: Int,
                  tooLarge: (String) -> any Error) async throws -> HTTPExchange.Response {
        var outgoing = HTTPClientRequest(url: request.url)
        outgoing.method = HTTPMethod(rawValue: request.method)
        for header in request.headers { outgoing.headers.add(name: header.name, value: header.value) }
        if !request.body.isEmpty || !["GET", "HEAD"].contains(request.method) {
            outgoing.body = .bytes(ByteBuffer(bytes: request.body))
        }
        let host = Self.host(request.url)
        let deadline = NIODeadline.now() + .nanoseconds(Self.nanoseconds(timeout))
        do {
            let response = try await client.execute(outgoing, deadline: deadline, logger: logger)
            let body = try await response.body.collect(upTo: limit)
            return HTTPExchange.Response(status: Int(response.status.code),
                                         headers: response.headers.map { HTTPExchange.Header($0.name, $0.value) },
                                         body: Array(body.readableBytesView))
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            throw ProviderError(.timeout, message: "no answer from \(host) within \(timeout)")
        } catch is NIOTooManyBytesError {
            throw tooLarge(host)
        } catch let error as ProviderError {
            throw error
        } catch let error as HTTPClientError where error == .cancelled {
            throw CancellationError()
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw ProviderError(.connection, message: "cannot reach \(host): \(Self.describe(error))")
        }
    }

    /// A connection failure in a person's words: NIO says "connection reset (error set):
    /// Connection refused (errno: 111)" for a port nothing listens on.
    static func describe(_ error: any Error) -> String {
        switch (error as? IOError)?.errnoCode {
        case ECONNREFUSED?: return "connection refused: nothing listens there (is the server running, is the port right?)"
        case ECONNRESET?: return "the connection was reset by the other side"
        case ENETUNREACH?, EHOSTUNREACH?: return "the network or host is unreachable"
        case ETIMEDOUT?: return "the connection timed out"
        default: return "\(error)"
        }
    }

    static func host(_ url: String) -> String {
        URL(string: url).flatMap { u in u.host.map { h in u.port.map { "\(h):\($0)" } ?? h } } ?? url
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : product + attoseconds / 1_000_000_000
    }

    /// Closes the client's connections. Call it once; the transport cannot send afterwards.
    /// - Throws: the client's shutdown error.
    public func shutdown() async throws {
        try await client.shutdown()
    }
}
