import Foundation
import Testing
import WfloCore
import WfloHTTP
import WfloProviders
import WfloTesting

/// Issue 23, item 2: a call's `timeout` starts when its request is sent, not while it waits for
/// a pooled connection; the transport tells the caller when that was (``RequestSendMark``).
/// Real HTTP over loopback to a server that answers slowly, with a pool of one connection.
@Suite(.timeLimit(.minutes(1)))
struct SendTimeoutTests {
    /// Runs `body` with a fake server and a client whose transport keeps `connections` per host.
    func withPool<T>(connections: Int, connectTimeout: Duration = .seconds(10),
                     _ body: (FakeLLMServer, LLMClient) async throws -> T) async throws -> T {
        try await withFakeProvider(transport: AsyncHTTPTransport(connectTimeout: connectTimeout, maximumConnectionsPerHost: connections), body)
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// One call with its own send mark: whether it answered, how long it waited before it was
    /// sent, and how long it took from the send to its end.
    struct Call: Sendable {
        var answered: Bool
        var waited: Double?
        var sinceSent: Double?
        /// From the call to its end, wait included.
        var total: Double = 0
    }

    static func call(_ client: LLMClient, timeout: Duration) async -> Call {
        let mark = RequestSendMark()
        let start = ContinuousClock.now
        let answered = await RequestSendMark.$current.withValue(mark) {
            (try? await client.complete(request(.openai), timeout: timeout)) != nil
        }
        let end = ContinuousClock.now - start
        let waited = mark.waitBeforeSending
        return Call(answered: answered, waited: waited.map(seconds), sinceSent: waited.map { seconds(end - $0) }, total: seconds(end))
    }

    @Test func twoCallsOnOneConnectionBothAnswerWithinTheirTimeout() async throws {
        // Given one connection and a server that answers each call after 1 s,
        // when two calls with a 1.5 s timeout start together,
        // then the second waits ~1 s for the connection, is sent after it, and still answers in time
        // (when the timeout started at the call, the second timed out at 1.5 s).
        let calls = try await withPool(connections: 1) { server, client in
            server.enqueue(.delay(.seconds(1)), .delay(.seconds(1)))
            return await withTaskGroup(of: Call.self) { group in
                for _ in 0..<2 { group.addTask { await Self.call(client, timeout: .milliseconds(1500)) } }
                return await group.reduce(into: []) { $0.append($1) }
            }
        }
        #expect(calls.map(\.answered) == [true, true])
        let waits = calls.compactMap(\.waited).sorted()
        try #require(waits.count == 2, "both calls are marked sent")
        #expect(waits[1] > 0.7, "the second call waited for the one connection: \(waits)")
        // The second call's time from its send leaves out its wait for the connection (~1 s of its ~2 s):
        // compared with its own end-to-end time, not a wall-clock bound, so a loaded machine does not matter.
        let second = try #require(calls.max { ($0.waited ?? 0) < ($1.waited ?? 0) })
        #expect(try #require(second.sinceSent) < second.total - 0.5, "\(second)")
    }

    @Test func aSentCallWithoutAnswerStillTimesOutAtItsTimeout() async throws {
        try await withPool(connections: 1) { server, client in
            server.enqueue(.hang)
            let mark = RequestSendMark()
            let start = ContinuousClock.now
            let error = await providerError {
                try await RequestSendMark.$current.withValue(mark) {
                    _ = try await client.complete(request(.openai), timeout: .milliseconds(400))
                }
            }
            let elapsed = Self.seconds(ContinuousClock.now - start)
            #expect(error?.kind == .timeout)
            #expect(error?.message.contains("no answer from 127.0.0.1:\(server.port) within") == true, "\(String(describing: error))")
            #expect(mark.waitBeforeSending != nil, "the request was sent")
            // The server never answers, so only the exchange's own timer ends the call: the error is
            // its `.timeout` naming 400 ms. It must not fire early. The upper bound only says "it
            // ended at all" (the suite's time limit would catch a hang too); it is generous because a
            // loaded CI run once took 5.08 s to deliver a 400 ms timer while every suite was starting.
            #expect(error?.message.hasSuffix("within 0.4 seconds") == true,
                    "\(String(describing: error))")
            #expect(elapsed >= 0.4 && elapsed < 30, "\(elapsed)")
        }
    }

    @Test func cancellingACallWaitingForAConnectionEndsItPromptly() async throws {
        // The connect timeout (which also bounds the wait for a pooled connection) is a minute:
        // only the cancellation can end the waiting call within the test's bound.
        try await withPool(connections: 1, connectTimeout: .seconds(60)) { server, client in
            server.enqueue(.hang)
            let holder = Task { _ = try? await client.complete(request(.openai), timeout: .seconds(300)) }
            await server.waitForRequests(1)
            let mark = RequestSendMark()
            let waiting = Task {
                try await RequestSendMark.$current.withValue(mark) {
                    _ = try await client.complete(request(.openai), timeout: .seconds(300))
                }
            }
            // Give the call time to queue for the busy connection; cancelling it earlier must end it too.
            try await Task.sleep(for: .milliseconds(300))
            let start = ContinuousClock.now
            waiting.cancel()
            let result = await waiting.result
            let elapsed = Self.seconds(ContinuousClock.now - start)
            #expect(throws: CancellationError.self) { try result.get() }
            #expect(elapsed < 5, "\(elapsed)")
            #expect(mark.waitBeforeSending == nil, "never sent")
            #expect(server.requestCount == 1)
            holder.cancel()
            await holder.value
        }
    }
}
