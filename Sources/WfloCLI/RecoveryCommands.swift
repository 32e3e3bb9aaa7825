import ArgumentParser
import Foundation
import WfloApp
import WfloCore
import WfloEngine
import WfloReports

/// `wflo retry`, `wflo fork` and `wflo gc`: failure handling (issue 21). Dead letters are `wflo runs --failed`.
enum RecoveryText {
    /// The plan as people read it: the steps that would run with their worst case, what is reused.
    static func describe(_ plan: RecoveryService.Plan, verb: String) -> String {
        var text = "\(verb) \(plan.runID) (workflow \(plan.workflow)) would run \(plan.steps.count) step\(plan.steps.count == 1 ? "" : "s")"
        text += plan.steps.isEmpty ? ".\n" : ":\n"
        if !plan.steps.isEmpty {
            let rows = plan.steps.map { step -> [String] in
                [step.stepID, step.type.rawValue, step.worstCase.map { $0.dollars() } ?? (step.unbounded ? "per item, at run time" : "$0")]
            }
            text += TextTable(header: ["STEP", "TYPE", "WORST CASE"], rows: rows, rightAligned: [2]).render(separatorBefore: nil)
        }
        text += "Worst case: \(plan.worstCase.dollars())\(plan.unbounded ? " plus the steps priced per item at run time" : "")"
        if !plan.reused.isEmpty {
            text += " · reused: \(plan.reused.count) step\(plan.reused.count == 1 ? "" : "s") (\(plan.reused.joined(separator: ", "))), "
                + "\(plan.reusedCost.dollars()) not spent again"
        }
        return text + "\n"
    }

    static func json(_ plan: RecoveryService.Plan) -> JSONValue {
        [
            "run_id": .string(plan.runID),
            "workflow": .string(plan.workflow),
            "steps": .array(plan.steps.map { step in
                ["step_id": .string(step.stepID), "type": .string(step.type.rawValue),
                 "worst_case_usd": step.worstCase.map { .string($0.exact()) } ?? .null, "priced_at_run_time": .bool(step.unbounded)]
            }),
            "worst_case_usd": .string(plan.worstCase.exact()),
            "reused_steps": .array(plan.reused.map { .string($0) }),
            "reused_cost_usd": .string(plan.reusedCost.exact()),
        ]
    }
}

struct RetryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry",
        abstract: "Continue failed runs from their failed steps: completed steps are replayed, never run or charged again.",
        discussion: """
            wflo retry RUN continues one failed run (the way it was started: its cassette, cache and pricing files). \
            wflo retry --failed [--workflow W] [--since 1d] retries every failed run that matches, one after another. \
            --dry-run prints what would run and its worst case, and runs nothing. Exit 0 when every retried run completed.
            """
    )

    @Argument(help: "The failed run's id, or a unique prefix of it.")
    var run: String?

    @Flag(help: "Retry every failed run that matches --workflow and --since.")
    var failed = false

    @Option(help: "With --failed: only runs of this workflow.")
    var workflow: String?

    @Option(help: "With --failed: only runs started since then (30m, 12h, 7d, 2w, or a date).")
    var since: String?

    @Flag(help: "Print what would run and its worst case; run nothing.")
    var dryRun = false

    @Option(parsing: .unconditional, help: "A new budget in USD for each retried run.")
    var budget: String?

    @OptionGroup var execution: ExecutionOptions

    func validate() throws {
        if failed == (run != nil) {
            throw ValidationError(run == nil ? "say which run: wflo retry RUN, or wflo retry --failed [--workflow W] [--since 1d]"
                                             : "give a run or --failed, not both")
        }
        if !failed && (workflow != nil || since != nil) { throw ValidationError("--workflow and --since go with --failed") }
    }

    func run() async throws {
        let newBudget = try await reportingErrors { () -> Money? in try budget.map(BudgetArgument.parse) }
        if let run {
            if dryRun {
                try await reportingErrors {
                    let plan = try await Self.planning(execution) { try await $0.retryPlan(run) }
                    Console.out(execution.json ? RecoveryText.json(plan).encoded(sorted: true, pretty: true) + "\n" : RecoveryText.describe(plan, verb: "Retrying"))
                }
                return
            }
            let options = try await reportingErrors { () -> ExecutionOptions in
                do {
                    return execution.continuing(try await execution.store.withJournal { try await RunService.startedMode(of: run, in: $0) })
                } catch let error as StoreError {
                    throw CLIError(error.message, exitCode: 2)
                }
            }
            try await options.execute(resuming: true) { runs in try await RecoveryService(runs: runs).retry(run, budget: newBudget) }
            return
        }
        let sinceDate = try await reportingErrors { () -> Date? in
            do { return try since.map { try ReportSince.parse($0, now: Date()) } } catch let error as ReportError { throw CLIError(error.message, exitCode: 2) }
        }
        try await reportingErrors {
            let letters = try await Self.planning(execution) { try await $0.deadLetters(since: sinceDate, workflow: workflow, limit: 10_000) }
            if letters.isEmpty {
                Console.out(execution.json ? "[]\n" : "No failed runs match.\n")
                return
            }
            if dryRun {
                let plans = try await Self.planning(execution) { service in
                    var plans: [RecoveryService.Plan] = []
                    for letter in letters { plans.append(try await service.retryPlan(letter.run.id)) }
                    return plans
                }
                if execution.json {
                    Console.out(JSONValue.array(plans.map(RecoveryText.json)).encoded(sorted: true, pretty: true) + "\n")
                } else {
                    Console.out(plans.map { RecoveryText.describe($0, verb: "Retrying") }.joined(separator: "\n"))
                    Console.out("\n\(plans.count) run\(plans.count == 1 ? "" : "s"), worst case \(plans.map(\.worstCase).reduce(.zero, +).dollars()) in all\n")
                }
                return
            }
            // One environment (journal, prices, transports) for every retried run.
            let environment = try await WfloEnvironment(store: execution.store, cassette: execution.cassette, pricing: execution.pricing,
                                                        createJournal: false, appendRecording: true)
            var results: [RunResult] = []
            do {
                let runs = environment.commandRuns(observer: environment.console(json: true, approvals: execution.approvals, dbOption: execution.store.db,
                                                                                 mode: execution.mode),
                                                   approvals: execution.approvals.waitMode, cache: !execution.cache.noCache)
                for letter in letters { results.append(try await RecoveryService(runs: runs).retry(letter.run.id, budget: newBudget)) }
                try await environment.close()
            } catch {
                try? await environment.close()
                throw error
            }
            if execution.json {
                Console.out(JSONValue.array(results.map(RunSummary.json)).encoded(sorted: true, pretty: true) + "\n")
            } else {
                let rows = results.map { [$0.runID, $0.status.rawValue, $0.ledger.committed.dollars(), $0.error ?? ""] }
                Console.out(TextTable(header: ["RUN", "STATUS", "SPENT", "ERROR"], rows: rows, rightAligned: [2]).render(separatorBefore: nil))
            }
            if results.contains(where: { $0.status != .completed }) { throw ExitCode(1) }
        }
    }

    /// `body` with a recovery service for planning (the journal, the prices these options give): nothing is sent.
    static func planning<T>(_ execution: ExecutionOptions, _ body: (RecoveryService) async throws -> T) async throws -> T {
        let environment = try await WfloEnvironment(store: execution.store, cassette: execution.cassette, pricing: execution.pricing)
        do {
            let result = try await body(RecoveryService(runs: environment.runs(observer: SilentObserver())))
            try await environment.close()
            return result
        } catch {
            try? await environment.close()
            throw error
        }
    }
}

struct ForkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fork",
        abstract: "Start a new run from a step of another: the steps not downstream of it are reused at $0, the rest run.",
        discussion: """
            The new run reuses the journaled results of every step that does not depend on --from (charged $0, \
            reported as reused) and runs --from and every step that depends on it, with the run's inputs changed by \
            --input. --from ID[3] runs again only item 3 of a for_each (its other items are reused). --dry-run prints \
            the steps that would run and their worst case. The fork continues the way the run was started (its \
            cassette, cache and pricing files) unless told otherwise.
            """
    )

    @Argument(help: "The run to fork: its id, or a unique prefix of it.")
    var run: String

    @Option(help: "The step to run again (ID, or ID[INDEX] for one item of a for_each).")
    var from: String

    @Option(name: .customLong("input"), help: "An input changed for the fork, NAME=VALUE (repeatable).")
    var inputs: [String] = []

    @Option(parsing: .unconditional, help: "The fork's budget in USD (default: the run's).")
    var budget: String?

    @Flag(help: "Print what would run and its worst case; start nothing.")
    var dryRun = false

    @OptionGroup var execution: ExecutionOptions

    func run() async throws {
        let newBudget = try await reportingErrors { () -> Money? in try budget.map(BudgetArgument.parse) }
        if dryRun {
            try await reportingErrors {
                let plan = try await RetryCommand.planning(execution) { try await $0.forkPlan(run, from: from, inputs: inputs).plan }
                Console.out(execution.json ? RecoveryText.json(plan).encoded(sorted: true, pretty: true) + "\n" : RecoveryText.describe(plan, verb: "A fork of"))
            }
            return
        }
        let options = try await reportingErrors { () -> ExecutionOptions in
            do {
                return execution.continuing(try await execution.store.withJournal { try await RunService.startedMode(of: run, in: $0) })
            } catch let error as StoreError {
                throw CLIError(error.message, exitCode: 2)
            }
        }
        try await options.execute(resuming: true) { runs in
            let service = RecoveryService(runs: runs)
            let fork = try await service.forkPlan(run, from: from, inputs: inputs)
            return try await service.fork(fork, budget: newBudget)
        }
    }
}

struct GCCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Remove the steps, events and approval requests of runs that ended before a time; keep their spend.",
        discussion: """
            Runs that ended (completed, failed, budget exceeded, rejected, cancelled) before --finished-before lose \
            their steps, step outputs, events, inputs, outputs and approval requests. Their run rows and attempt ledger \
            (cost, tokens, model and time of each call) stay, so `wflo report --since …` totals across runs do not \
            change; `wflo report RUN` of such a run shows its spend without steps. --dry-run counts and removes nothing.
            """
    )

    @Option(help: "Runs that ended before this: a duration back from now (30d, 12h, 2w) or a date (2026-11-01).")
    var finishedBefore: String

    @Flag(help: "Count what would be removed; remove nothing.")
    var dryRun = false

    @Flag(help: "Print JSON.")
    var json = false

    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await reportingErrors {
            let before: Date
            do {
                before = try ReportSince.parse(finishedBefore, now: Date())
            } catch let error as ReportError {
                throw CLIError(error.message.replacingOccurrences(of: "--since", with: "--finished-before"), exitCode: 2)
            }
            let summary = store.exists
                ? try await store.withJournal { try await $0.collectGarbage(finishedBefore: before, dryRun: dryRun, at: Date()) }
                : CollectionSummary()
            if json {
                Console.out(JSONValue.object(["dry_run": .bool(dryRun), "runs": .int(summary.runs), "steps": .int(summary.steps),
                                              "events": .int(summary.events), "approvals": .int(summary.approvals),
                                              "finished_before": .string(before.formatted(.iso8601))]).encoded(sorted: true, pretty: true) + "\n")
                return
            }
            Console.out("\(dryRun ? "Would remove" : "Removed") the details of \(summary.runs) run\(summary.runs == 1 ? "" : "s") that ended before "
                        + "\(before.formatted(.iso8601)): \(summary.steps) steps, \(summary.events) events, \(summary.approvals) approval requests. "
                        + "Their spend stays in reports.\n")
        }
    }
}
