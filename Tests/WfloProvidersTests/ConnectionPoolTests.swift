import Testing
import WfloCore
import WfloHTTP
import WfloProviders
import WfloTesting

/// Calls to one host are not held back by the HTTP client's connection pool: as many are in flight
/// as the caller starts, up to ``AsyncHTTPTransport/maximumConnectionsPerHost``.
@Suite(.timeLimit(.minutes(1)))
struct ConnectionPoolTests {
    /// Starts `calls` calls that the server never answers and returns once the server holds them
    /// all at once (the wait is on the server's own count, not on a clock). With AsyncHTTPClient's
    /// default pool of 8 only 8 ever arrive and the suite's time limit fails the test.
    func allArriveTogether(calls: Int, transport: AsyncHTTPTransport) async throws -> Int {
        let server = try await FakeLLMServer.start()
        server.enqueue(Array(repeating: .hang, count: calls))
        let endpoints = ProviderEndpoints(openAIBaseURL: server.baseURLOpenAI, openAIKey: openAIKey,
                                          anthropicBaseURL: server.baseURLAnthropic, anthropicKey: anthropicKey)
        let client = LLMClient(transport: transport, endpoints: endpoints)
        let sending = Task {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<calls {
                    group.addTask { _ = try? await client.complete(request(.openai), timeout: .seconds(300)) }
                }
            }
        }
        await server.waitForRequests(calls)
        let arrived = server.requestCount
        sending.cancel()
        await server.shutdown()
        await sending.value
        try await transport.shutdown()
        return arrived
    }

    @Test func thirtyTwoParallelCallsAreAllInFlightAtOnce() async throws {
        let transport = AsyncHTTPTransport()
        #expect(transport.maximumConnectionsPerHost >= 32)
        #expect(try await allArriveTogether(calls: 32, transport: transport) == 32)
    }

    @Test func theLimitIsASetting() async throws {
        for (asked, kept) in [(64, 64), (0, 1)] {
            let transport = AsyncHTTPTransport(maximumConnectionsPerHost: asked)
            #expect(transport.maximumConnectionsPerHost == kept)
            try await transport.shutdown()
        }
    }
}
