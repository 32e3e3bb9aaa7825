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
/// keeps 8 by default, which held `max_parallel: 32` to 8 calls in flight).
///
/// A call's `timeout` starts when its request head is written to a connection, and the caller's
/// ``RequestSendMark/current`` is marked then: a call that first waits for a connection — a free
/// one from the pool when ``maximumConnectionsPerHost`` calls to the host are in flight, or a new
/// one being opened — spends neither its timeout nor its attempt's recorded time waiting.
/// That wait is bounded by ``connectTimeout``: opening a connection fails after it (`.timeout`),
/// and a call still queued for a free pooled connection after it fails with `.connection`
/// ("no free connection"; the request was not sent, so the engine settles the attempt at zero
/// and its retry policy decides). The run's timeout and `wflo cancel` end a wait at once: the
/// task's cancellation takes the call out of the pool's queue (`CancellationError`).
public final class AsyncHTTPTransport: HTTPTransport {
    private let client: HTTPClient
    private let logger: Logger
    /// Responses larger than this are refused (protects memory from a misbehaving server).
    public let maximumResponseBytes: Int
    /// How many connections to one host may be open at once: the most calls to it in flight.
    public let maximumConnectionsPerHost: Int
    /// How long a call may wait to open a connection, or for a free pooled one, before it is sent.
    public let connectTimeout: Duration
    /// The default of ``maximumConnectionsPerHost``: above any `max_parallel` a workflow commonly sets.
    public static let defaultMaximumConnectionsPerHost = 256

    /// - Parameters:
    ///   - maximumResponseBytes: a larger body fails with `.malformedResponse`.
    ///   - connectTimeout: how long to wait for a TCP (and TLS) connection, or for a free one from the pool.
    ///   - maximumConnectionsPerHost: the most calls in flight to one host (at least 1); more wait for a connection.
    ///   - logger: where the HTTP client logs; silent by default.
    public init(maximumResponseBytes: Int = 32 << 20, connectTimeout: Duration = .seconds(10),
                maximumConnectionsPerHost: Int = AsyncHTTPTransport.defaultMaximumConnectionsPerHost,
                logger: Logger = Logger(label: "wflo.http", factory: { _ in SwiftLogNoOpLogHandler() })) {
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = .nanoseconds(Self.nanoseconds(connectTimeout))
        self.connectTimeout = connectTimeout
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
    /// - Throws: ``ProviderError`` `.timeout` when no complete answer came within `timeout` of the
    ///   request being sent (or no connection opened within ``connectTimeout``),
    ///   `.connection` when the host cannot be reached or closed the connection, or no pooled
    ///   connection came free within ``connectTimeout``,
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
    ///
    /// The `timeout` starts when the request head is written to a connection (see the type's
    /// comment); the caller's ``RequestSendMark/current`` is marked at that moment.
    func exchange(_ request: HTTPExchange.Request, timeout: Duration, maximumResponseBytes limit: Int,
                  tooLarge: (String) -> any Error) async throws -> HTTPExchange.Response {
        let host = Self.host(request.url)
        let delegate = ExchangeDelegate(timeout: .nanoseconds(Self.nanoseconds(timeout)), maximumResponseBytes: limit,
                                        mark: RequestSendMark.current)
        do {
            var outgoing = try HTTPClient.Request(url: request.url, method: HTTPMethod(rawValue: request.method))
            for header in request.headers { outgoing.headers.add(name: header.name, value: header.value) }
            if !request.body.isEmpty || !["GET", "HEAD"].contains(request.method) {
                outgoing.body = .bytes(request.body)
            }
            // No deadline for the whole exchange: the delegate's timer starts at the send. The wait
            // for a pooled connection is bounded by the client's connect timeout (its queue deadline).
            let task = client.execute(request: outgoing, delegate: delegate, eventLoop: .indifferent, deadline: nil, logger: logger)
            return try await withTaskCancellationHandler {
                try await task.futureResult.get()
            } onCancel: {
                task.cancel()
            }
        } catch is ExchangeDelegate.NoAnswer {
            throw ProviderError(.timeout, message: "no answer from \(host) within \(timeout)")
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            throw ProviderError(.timeout, message: "no answer from \(host) within \(timeout)")
        } catch let error as HTTPClientError where error == .getConnectionFromPoolTimeout {
            throw ProviderError(.connection, message: "cannot reach \(host): no free connection to it within \(connectTimeout) "
                                + "(all \(maximumConnectionsPerHost) stayed busy); the request was not sent")
        } catch is ExchangeDelegate.TooLarge {
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
