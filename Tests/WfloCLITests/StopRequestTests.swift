import Synchronization
import Testing
@testable import WfloCLI

/// `wflo worker` listens for SIGTERM/SIGINT before it opens the journal and reads the pricing
/// table; a signal that comes while it starts is kept and stops the worker once there is one
/// (gracefully: exit 0), instead of the signal's default killing the process.
struct StopRequestTests {
    @Test func aStopAskedForBeforeTheWorkerExistsStopsItOnceItDoes() {
        let stops = Atomic<Int>(0)
        let request = StopRequest()
        request.request()
        #expect(stops.load(ordering: .relaxed) == 0)
        request.onRequest { stops.add(1, ordering: .relaxed) }
        #expect(stops.load(ordering: .relaxed) == 1)
    }

    @Test func aStopAskedForAfterTheWorkerExistsStopsItThen() {
        let stops = Atomic<Int>(0)
        let request = StopRequest()
        request.onRequest { stops.add(1, ordering: .relaxed) }
        #expect(stops.load(ordering: .relaxed) == 0)
        request.request()
        #expect(stops.load(ordering: .relaxed) == 1)
    }
}
