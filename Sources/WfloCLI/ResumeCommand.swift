import ArgumentParser
import Foundation
import WfloCore
import WfloDSL
import WfloEngine
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
                let store = try execution.store.open()
                let journal = try await store.journal(runID: try await store.resolveRunID(prefix: run))
                return execution.continuing(Executor.journaledMode(journal))
            } catch let error as StoreError {
                throw CLIError(error.message, exitCode: 2)
            }
        }
        try await options.execute(resuming: true) { runtime, executor in
            let runID = try await runtime.store.resolveRunID(prefix: run)
            guard let record = try await runtime.store.run(id: runID) else { throw CLIError("run \(run) not found", exitCode: 2) }
            if record.workflowPath.hasPrefix("swift:") {
                throw CLIError("run \(runID) was started from Swift (workflow '\(record.workflowName)'); resume it there with WfloRuntime.resume(_:workflow:)", exitCode: 2)
            }
            // Sub-workflows as they were when the run started, not as the files are now.
            let children = Executor.journaledWorkflowSources(try await runtime.store.journal(runID: runID))
            let definition = try WorkflowLoader.parse(source: record.workflowSource, file: record.workflowPath, pricing: runtime.pricing,
                                                      sources: WorkflowSources(journaled: children))
            return try await executor.resume(runID: runID, definition: definition, budget: try budget.map(BudgetArgument.parse))
        }
    }
}
