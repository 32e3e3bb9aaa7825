import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import WfloApp
import WfloCore
import WfloServer

/// `GET /v1/events`: what changes while the stream is open arrives as `event: run` and
/// `event: approval` frames.
@Suite(.timeLimit(.minutes(10)))
struct EventsTests {
    @Test func aSubmittedRunAndItsApprovalRequestArriveAsEvents() async throws {
        try await ServerHarness.with(workers: 1) { server, client in
            // Open for 8 s (the router test client returns the whole body at its end).
            let stream = Task {
                try await server.call(client, .get, "/v1/events?timeout=8", route: "/v1/events", as: .read)
            }
            try await Task.sleep(for: .seconds(1))
            let created = try await server.call(client, .post, "/v1/runs", route: "/v1/runs", as: .submit,
                                                body: ["workflow": .string(ServerHarness.gatedWorkflow), "inputs": ["topic": "tides"]])
            let runID = try #require(created.json["run_id"]?.stringValue)
            try await server.eventually("the run waits") { try await server.status(runID) == .waitingApproval }
            let answer = try await stream.value
            #expect(answer.status == .ok)
            let frames = answer.text.components(separatedBy: "\n\n").filter { $0.hasPrefix("event: ") }
            let events = frames.compactMap { frame -> (String, JSONValue)? in
                let lines = frame.split(separator: "\n")
                guard lines.count == 2, lines[1].hasPrefix("data: ") else { return nil }
                return (String(lines[0].dropFirst(7)), (try? JSONValue.parse(String(lines[1].dropFirst(6)))) ?? .null)
            }
            #expect(events.count == frames.count, "every frame is one event and one data line: \(answer.text)")
            let statuses = events.filter { $0.0 == "run" && $0.1["run_id"]?.stringValue == runID }.compactMap { $0.1["status"]?.stringValue }
            #expect(statuses.last == "waiting_approval", "\(statuses)")
            let approvals = events.filter { $0.0 == "approval" }
            #expect(approvals.count == 1 && approvals.first?.1["run_id"]?.stringValue == runID && approvals.first?.1["status"] == "pending")
            #expect(try await server.call(client, .get, "/v1/events?timeout=-1", route: "/v1/events", as: .read).status == .unprocessableContent)
            #expect(try await server.call(client, .get, "/v1/events", route: "/v1/events").status == .unauthorized)
        }
    }
}
