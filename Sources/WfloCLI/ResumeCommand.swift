import ArgumentParser
import Foundation
import WfloApp
import WfloCore
import WfloStore

struct ResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Continue a run from its journal: completed steps are not run or charged again.",
        discussion: "An attempt that was in flight when the process died stays charged at its worst case (unsettled)."
    )

    @Argument(help: "The run id, or a unique prefix of it.")
    var run: String

    @Option(parsing: .unconditional, help: "A new budget in USD for the run (to continue a run stopped by its budget).")
    var budget: String?

    @OptionGroup var execution: ExecutionOptions

    func run() async throws {
        // The run continues the way it was started (its cassette, cache and pricing files)
        // unless the command line says otherwise: a replayed run never goes live by accident.
        let options = try await reportingErrors { () -> ExecutionOptions in
            _ = try budget.map(BudgetArgument.parse)  // A bad --budget is a usage error, before the journal is read.
            do {
                return execution.continuing(try await execution.store.withJournal { try await RunService.startedMode(of: run, in: $0) })
            } catch let error as StoreError {
                throw CLIError(error.message, exitCode: 2)
            }
        }
        try await options.execute(resuming: true) { runs in
            try await runs.resume(run, budget: try budget.map(BudgetArgument.parse))
        }
    }
}
