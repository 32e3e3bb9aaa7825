import ArgumentParser
import Foundation
import WfloApp
import WfloCore
import WfloEngine

struct CancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Stop a run: in-flight calls are cancelled, sandboxes killed, waits ended; the run ends cancelled.",
        discussion: """
            The request is journaled first. A `wflo run` or `wflo resume` driving the run sees it within \
            a fraction of a second and exits 5; a run nobody drives (waiting for an approval, or whose \
            process died) is ended here. A call cut off mid-way stays charged at its worst case \
            (unsettled): the provider may have billed it. A cancelled run cannot be resumed.
            Exit codes: 0 cancelled, 2 unknown run or already finished, 1 the driver did not stop in time.
            """
    )

    @Argument(help: "The run id, or a unique prefix of it.")
    var run: String

    @Option(help: "Why, for the journal and the report.")
    var reason: String?

    @Option(help: "Who cancels (default: the current user).")
    var by: String?

    @Option(help: "Seconds to wait for the process driving the run to stop.")
    var wait: Double = 30

    @Flag(help: "Print JSON.")
    var json = false

    @OptionGroup var store: StoreOptions

    func validate() throws {
        guard wait.isFinite, wait >= 0, wait <= 86_400 else {
            throw ValidationError("--wait must be a number of seconds from 0 to 86400, not \(wait)")
        }
    }

    func run() async throws {
        let result = try await reportingErrors { () -> RunResult in
            let environment = try await WfloEnvironment(store: store, cassette: nil, pricing: nil)
            do {
                let result = try await environment.commandRuns(observer: SilentObserver())
                    .cancel(run, by: Approver.name(by), reason: reason, wait: wait)
                try await environment.close()
                return result
            } catch {
                try? await environment.close()
                throw error
            }
        }
        if json {
            Console.out(RunSummary.json(result).encoded(sorted: true, pretty: true) + "\n")
        } else {
            var line = "Run \(result.runID) \(result.status.rawValue) · spent \(result.ledger.committed.dollars())"
            if !result.ledger.reserved.isZero { line += " (\(result.ledger.reserved.dollars()) unsettled: in flight when stopped)" }
            Console.out(line + "\n")
            if let error = result.error { Console.out("  \(error)\n") }
        }
    }
}
