import NIOCore
import Synchronization
import WfloCore

/// The shared, lock-protected state of a ``FakeLLMServer``: scripted behaviors, recorded
/// requests, open connections and the tasks waiting for requests.
final class FakeLLMServerCore: Sendable {
    struct MatchRule {
        var substring: String
        var behavior: FakeLLMServer.Behavior
        var remaining: Int?
    }

    struct Waiter {
        var count: Int
        var continuation: CheckedContinuation<Void, Never>
    }

    struct State {
        var queues: [String: [FakeLLMServer.Behavior]] = [:]
        var anyPathQueue: [FakeLLMServer.Behavior] = []
        var rules: [MatchRule] = []
        var recorded: [RecordedRequest] = []
        var waiters: [Waiter] = []
        var isShutDown = false
    }

    let requiredAPIKey: String?
    let state = Mutex(State())

    init(requiredAPIKey: String?) {
        self.requiredAPIKey = requiredAPIKey
    }

    /// Records the request, picks its behavior and turns it into what the handler does.
    func accept(method: String, path: String, headers: [String: String], body: String) -> FakeWire.Action {
        let format = FakeWire.format(ofPath: path)
        let (action, ready) = state.withLock { state -> (FakeWire.Action, [Waiter]) in
            let request = RecordedRequest(sequence: state.recorded.count + 1, method: method, path: path, headers: headers, bodyText: body)
            state.recorded.append(request)
            let count = state.recorded.count
            let ready = state.waiters.filter { $0.count <= count }
            state.waiters.removeAll { $0.count <= count }
            if let rejection = FakeWire.rejection(for: request, format: format, requiredAPIKey: requiredAPIKey) {
                return (.respond(rejection), ready)
            }
            let behavior = Self.nextBehavior(for: request, in: &state)
            return (FakeWire.action(for: behavior, request: request, format: format ?? .openAI), ready)
        }
        for waiter in ready { waiter.continuation.resume() }
        return action
    }

    /// Prompt rules first (in the order added), then the path's queue, then the queue for every
    /// path, then the default reply.
    private static func nextBehavior(for request: RecordedRequest, in state: inout State) -> FakeLLMServer.Behavior {
        let prompt = request.promptText
        if let index = state.rules.firstIndex(where: { prompt.contains($0.substring) && ($0.remaining ?? 1) > 0 }) {
            if let remaining = state.rules[index].remaining { state.rules[index].remaining = remaining - 1 }
            return state.rules[index].behavior
        }
        if var queue = state.queues[request.path], !queue.isEmpty {
            let behavior = queue.removeFirst()
            state.queues[request.path] = queue
            return behavior
        }
        if !state.anyPathQueue.isEmpty {
            return state.anyPathQueue.removeFirst()
        }
        return .reply()
    }

    func waitForRequests(_ count: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state -> Bool in
                if state.recorded.count >= count || state.isShutDown { return true }
                state.waiters.append(Waiter(count: count, continuation: continuation))
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    /// Marks the server shut down and wakes every ``FakeLLMServer/waitForRequests(_:)``.
    func wakeAllWaiters() {
        let waiters = state.withLock { state -> [Waiter] in
            state.isShutDown = true
            let waiters = state.waiters
            state.waiters = []
            return waiters
        }
        for waiter in waiters { waiter.continuation.resume() }
    }
}
