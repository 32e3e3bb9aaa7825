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
    private let client: HTTPClient
    private let logger: Logger

    public init(connectTimeout: Duration = .seconds(10),
                logger: Logger = Logger(label: "wflo.http-step", factory: { _ in SwiftLogNoOpLogHandler() })) {
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = .nanoseconds(AsyncHTTPTransport.nanoseconds(connectTimeout))
        configuration.redirectConfiguration = .disallow
        configuration.connectionPool.retryConnectionEstablishment = false
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration, backgroundActivityLogger: logger)
        self.logger = logger
    }

    public func send(_ request: HTTPExchange.Request, timeout: Duration, maximumResponseBytes: Int) async throws -> HTTPExchange.Response {
        var outgoing = HTTPClientRequest(url: request.url)
        outgoing.method = HTTPMethod(rawValue: request.method)
        for header in request.headers { outgoing.headers.add(name: header.name, value: header.value) }
        if !request.body.isEmpty || !["GET", "HEAD"].contains(request.method) {
            outgoing.body = .bytes(ByteBuffer(bytes: request.body))
        }
        let host = AsyncHTTPTransport.host(request.url)
        let deadline = NIODeadline.now() + .nanoseconds(AsyncHTTPTransport.nanoseconds(timeout))
        do {
            let response = try await client.execute(outgoing, deadline: deadline, logger: logger)
            let body = try await response.body.collect(upTo: maximumResponseBytes)
            return HTTPExchange.Response(status: Int(response.status.code),
                                         headers: response.headers.map { HTTPExchange.Header($0.name, $0.value) },
                                         body: Array(body.readableBytesView))
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            throw ProviderError(.timeout, message: "no answer from \(host) within \(timeout)")
        } catch is NIOTooManyBytesError {
            throw ResponseTooLargeError(host: host, limit: maximumResponseBytes)
        } catch let error as ProviderError {
            throw error
        } catch let error as HTTPClientError where error == .cancelled {
            throw CancellationError()
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw ProviderError(.connection, message: "cannot reach \(host): \(error)")
        }
    }

    /// Closes the client's connections. Call it once; the transport cannot send afterwards.
    public func shutdown() async throws {
        try await client.shutdown()
    }
}
