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

    @Option(help: "A new budget in USD for the run (to continue a run stopped by its budget).")
    var budget: String?

    @OptionGroup var execution: ExecutionOptions

    func run() async throws {
        try await execution.execute { runtime, executor in
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
