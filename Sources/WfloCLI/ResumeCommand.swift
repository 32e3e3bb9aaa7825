import ArgumentParser
import Foundation
import WfloCore
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

    @Flag(help: "Print one JSON object at the end instead of progress.")
    var json = false

    @OptionGroup var store: StoreOptions
    @OptionGroup var cassette: CassetteOptions
    @OptionGroup var pricing: PricingOptions
    @OptionGroup var approvals: ApprovalOptions
    @OptionGroup var cache: CacheOptions

    func run() async throws {
        let result = try await reportingErrors { () -> RunResult in
            let runtime = try Runtime(store: store, cassette: cassette, pricing: pricing)
            do {
                let runID = try await runtime.store.resolveRunID(prefix: run)
                guard let record = try await runtime.store.run(id: runID) else { throw CLIError("run \(run) not found", exitCode: 2) }
                let definition = try WorkflowLoader.parse(source: record.workflowSource, file: record.workflowPath, pricing: runtime.pricing)
                let newBudget = try budget.map(BudgetArgument.parse)
                let observer = runtime.console(json: json, approvals: approvals, dbOption: store.db)
                let result = try await runtime.executor(observer: observer, approvals: approvals.waitMode, cache: !cache.noCache).resume(runID: runID, definition: definition, budget: newBudget)
                try await runtime.close()
                return result
            } catch let error as EngineError {
                try? await runtime.close()
                throw CLIError(error.description, exitCode: 2)
            } catch let error as StoreError {
                try? await runtime.close()
                throw CLIError(error.message, exitCode: 2)
            } catch {
                try? await runtime.close()
                throw error
            }
        }
        RunSummary.print(result, json: json)
        if result.status.exitCode != 0 { throw ExitCode(result.status.exitCode) }
    }
}
