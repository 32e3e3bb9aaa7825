import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import Synchronization
import WfloProviders

/// Collects one response for ``AsyncHTTPTransport`` and runs the exchange's timeout from the
/// moment the request head is written to a connection (not from the call: a call that waits
/// for a pooled connection does not spend its timeout waiting).
///
/// When the timer fires the task fails with ``NoAnswer``; a body past the limit fails it with
/// ``TooLarge`` and reading stops. Every callback runs on the task's event loop; the state sits
/// behind a mutex only to make the type `Sendable`.
final class ExchangeDelegate: HTTPClientResponseDelegate {
    typealias Response = HTTPExchange.Response

    /// The request was sent and no complete answer came within the timeout.
    struct NoAnswer: Error {}
    /// The body passed the limit.
    struct TooLarge: Error {}

    private struct State {
        var timer: Scheduled<Void>?
        var status = 0
        var headers: [HTTPExchange.Header] = []
        var body = ByteBuffer()
        var failed = false
    }

    private let timeout: TimeAmount
    private let maximumResponseBytes: Int
    private let mark: RequestSendMark?
    private let state = Mutex(State())

    init(timeout: TimeAmount, maximumResponseBytes: Int, mark: RequestSendMark?) {
        self.timeout = timeout
        self.maximumResponseBytes = maximumResponseBytes
        self.mark = mark
    }

    func didSendRequestHead(task: HTTPClient.Task<Response>, _ head: HTTPRequestHead) {
        mark?.markSent()
        let timeout = self.timeout
        state.withLock { state in
            guard state.timer == nil else { return }
            state.timer = task.eventLoop.scheduleTask(deadline: .now() + timeout) {
                task.fail(reason: NoAnswer())
            }
        }
    }

    func didReceiveHead(task: HTTPClient.Task<Response>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        state.withLock { state in
            state.status = Int(head.status.code)
            state.headers = head.headers.map { HTTPExchange.Header($0.name, $0.value) }
        }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Response>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        let limit = maximumResponseBytes
        let tooLarge: Bool = state.withLock { state in
            guard !state.failed else { return false }
            guard state.body.readableBytes + buffer.readableBytes <= limit else {
                state.failed = true
                state.body = ByteBuffer()
                return true
            }
            var part = buffer
            state.body.writeBuffer(&part)
            return false
        }
        if tooLarge { task.fail(reason: TooLarge()) }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveError(task: HTTPClient.Task<Response>, _ error: any Error) {
        state.withLock { state in
            state.timer?.cancel()
            state.timer = nil
        }
    }

    func didFinishRequest(task: HTTPClient.Task<Response>) throws -> Response {
        try state.withLock { state in
            state.timer?.cancel()
            state.timer = nil
            if state.failed { throw TooLarge() }
            return HTTPExchange.Response(status: state.status, headers: state.headers, body: Array(state.body.readableBytesView))
        }
    }
}
