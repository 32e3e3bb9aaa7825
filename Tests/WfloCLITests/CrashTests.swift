import Foundation
import Testing
import WfloCore
import WfloTesting

/// Invariants 2 and 3 of DESIGN.md with real SIGKILLs of a real `wflo run`: resume finishes the
/// run with the same outputs and the same settled ledger as an uninterrupted run, and no
/// completed step is sent again.
@Suite(.timeLimit(.minutes(3)))
struct CrashTests {
    struct Reference {
        var outputs: JSONValue
        var settled: Money
    }

    static func ledger(_ wflo: WfloProcess, _ runID: String) async throws -> (settled: Money, unsettled: Money, outputs: JSONValue, status: String) {
        let report = try JSONValue.parse(try await wflo.run(["report", runID, "--format", "json"]).stdout)
        return (Money(string: report["settled_usd"]?.stringValue ?? "")!, Money(string: report["unsettled_usd"]?.stringValue ?? "")!,
                report["outputs"] ?? .null, report["status"]?.stringValue ?? "")
    }

    static func reference() async throws -> Reference {
        try await CLITests.withServer { _, wflo, _ in
            let run = try await wflo.run(["run", CLITests.brief, "--json"])
            let json = try JSONValue.parse(run.stdout)
            return Reference(outputs: json["outputs"]!, settled: Money(string: json["settled_usd"]!.stringValue!)!)
        }
    }

    static func onlyRunID(_ wflo: WfloProcess) async throws -> String {
        let runs = try JSONValue.parse(try await wflo.run(["runs", "--json"]).stdout)
        return try #require(runs[0]?["run_id"]?.stringValue)
    }

    /// Kill points right after a journal commit: the process SIGKILLs itself there.
    @Test(arguments: TestJournal.all, ["completed:outline", "completed:facts", "started:draft", "completed:draft"])
    func resumeAfterKillAtACommitPointFinishesWithTheSameLedger(journal: TestJournal, point: String) async throws {
        let reference = try await Self.reference()
        try await CLITests.withServer(journal: journal) { server, wflo, _ in
            let crashed = try await wflo.run(["run", CLITests.brief], extraEnvironment: ["WFLO_FAULT_KILL_AT": point])
            #expect(crashed.killedBySignal && crashed.status == SIGKILL, "\(point): \(crashed.status) \(crashed.stderr)")
            let runID = try await Self.onlyRunID(wflo)
            let before = server.requests()

            let resumed = try await wflo.run(["resume", String(runID.prefix(8)), "--json"])
            #expect(resumed.status == 0, "\(resumed.stderr)")
            let after = try await Self.ledger(wflo, runID)
            #expect(after.status == "completed")
            #expect(after.outputs == reference.outputs)
            #expect(after.settled == reference.settled)

            // Steps whose completion was journaled before the kill were never sent again.
            let journalBefore = before.count
            let all = server.requests()
            for (prompt, step) in [("Outline a brief", "outline"), ("List three facts", "facts"), ("Write the brief", "draft")] {
                let count = all.filter { $0.lastUserMessage?.hasPrefix(prompt) == true }.count
                if point == "completed:\(step)" || (step != "draft" && point.hasSuffix("draft")) {
                    #expect(count == 1, "\(step) was sent \(count) times after a kill at \(point)")
                }
                #expect(count >= 1 && count <= 2)
            }
            // Anything sent twice was in flight at the kill: charged at its reservation, unsettled.
            let duplicated = all.count - 3
            #expect(duplicated >= 0 && all.count >= journalBefore)
            if point.hasPrefix("started:") {
                // Killed after the reservation, before the request: charged, never sent.
                #expect(after.unsettled > .zero)
            } else if duplicated == 0 {
                // Nothing was sent twice, so nothing completed is unsettled. The one exception is the
                // parallel sibling (outline and facts run together): reserved just before the kill, its
                // request not yet received, it is charged at its reservation and sent once on resume.
                let report = try JSONValue.parse(try await wflo.run(["report", runID, "--format", "json"]).stdout)
                let unsettled = report["unsettled"]?.arrayValue ?? []
                let steps = unsettled.compactMap { $0["step"]?.stringValue }
                let sibling = ["completed:outline": "facts", "completed:facts": "outline"][point]
                #expect(steps.allSatisfy { $0 == sibling }, "\(point): only \(sibling ?? "nothing") may be unsettled: \(unsettled)")
                #expect(steps.count <= 1, "one attempt at most: \(unsettled)")
                let listed = unsettled.compactMap { $0["reserved_usd"]?.stringValue.flatMap(Money.init(string:)) }.reduce(Money.zero, +)
                #expect(after.unsettled == listed, "\(point): \(after.unsettled) against \(unsettled)")
            }
        }
    }

    /// A kill from outside while a call is in flight: the call stays charged (unsettled) and is
    /// made again on resume; the completed steps are not.
    @Test(arguments: TestJournal.all)
    func killWhileACallIsInFlightKeepsItChargedAndResumeFinishes(journal: TestJournal) async throws {
        let reference = try await Self.reference()
        try await CLITests.withServer(journal: journal) { server, wflo, _ in
            server.on(promptContaining: "Write the brief", .hang, times: 1)
            let process = try wflo.start(["run", CLITests.brief])
            await server.waitForRequests(3)
            process.send(SIGKILL)
            let crashed = await WfloProcess.finish(process)
            #expect(crashed.killedBySignal)
            let runID = try await Self.onlyRunID(wflo)

            let resumed = try await wflo.run(["resume", runID])
            #expect(resumed.status == 0, "\(resumed.stdout)\(resumed.stderr)")
            #expect(resumed.output.contains("unsettled"))
            let after = try await Self.ledger(wflo, runID)
            #expect(after.outputs == reference.outputs)
            #expect(after.settled == reference.settled)
            #expect(after.unsettled > .zero)
            let requests = server.requests()
            #expect(requests.filter { $0.lastUserMessage?.hasPrefix("Outline a brief") == true }.count == 1)
            #expect(requests.filter { $0.lastUserMessage?.hasPrefix("List three facts") == true }.count == 1)
            #expect(requests.filter { $0.lastUserMessage?.hasPrefix("Write the brief") == true }.count == 2)

            // Resuming a completed run is refused, and charges nothing.
            let again = try await wflo.run(["resume", runID])
            #expect(again.status == 2)
            #expect(server.requestCount == 4)
        }
    }
}
