import ArgumentParser
import Foundation
import WfloApp
import WfloCore
import WfloDSL
import WfloEngine
import WfloStore
import Tracing

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a workflow under a budget.",
        discussion: "Exit codes: 0 completed, 1 failed, 2 invalid usage or workflow, 3 budget exceeded, 4 waiting for approval (--no-wait or Ctrl-C while waiting), 5 rejected or cancelled (wflo cancel), 130 interrupted (resumable)."
    )

    @OptionGroup var request: RunRequestOptions

    @OptionGroup var execution: ExecutionOptions

    @OptionGroup var spread: SpreadOptions

    @Option(help: "Attach the run's trace to a caller's: a W3C traceparent (00-TRACEID-SPANID-FLAGS); default $TRACEPARENT.")
    var traceparent: String?

    func run() async throws {
        let parent = try await reportingErrors { try TraceOptions.parent(given: traceparent, environment: ProcessInfo.processInfo.environment) }
        try await InstrumentationContext.withValue(parent ?? InstrumentationContext.current) {
            try await execution.execute(createJournal: true, stepTasks: spread.settings) { runs in
                let workflow = try runs.load(file: request.file)
                return try await runs.start(workflow, inputs: try request.bindInputs(workflow.definition),
                                            budget: try request.resolveBudget(workflow.definition), mode: execution.mode, tags: try request.runTags())
            }
        }
    }
}

/// `wflo run --spread-steps`: the run is driven here, and its `llm`/`http` calls (for_each items,
/// parallel branches) are step tasks that `wflo worker --spread-steps` processes may execute too.
struct SpreadOptions: ParsableArguments {
    @Flag(help: "Put the run's llm/http calls (for_each items, parallel branches) in the journal as step tasks that any `wflo worker --spread-steps` may execute; this process executes up to --spread-width of them at once.")
    var spreadSteps = false

    @Option(help: "With --spread-steps: the most of the run's step tasks this process executes at once (default 4); workers take the rest.")
    var spreadWidth: Int?

    func validate() throws {
        if spreadWidth != nil && !spreadSteps { throw ValidationError("--spread-width needs --spread-steps") }
        if let spreadWidth, spreadWidth < 1 { throw ValidationError("--spread-width must be 1 or more (got \(spreadWidth))") }
    }

    /// What `--spread-steps` asks of the executor, or nil.
    var settings: StepTaskSettings? {
        spreadSteps ? StepTaskSettings(width: spreadWidth ?? 4) : nil
    }
}

/// How progress is written on stderr.
enum LogFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case text
    case json
}

/// Where a run's trace hangs: `--traceparent`, else `TRACEPARENT`.
enum TraceOptions {
    /// - Throws: ``CLIError`` (exit 2) naming the option or variable when the value is not a W3C traceparent.
    static func parent(given: String?, environment: [String: String]) throws -> InstrumentationContext? {
        try traceparent(given: given, environment: environment).map { RunTelemetry.context(traceparent: $0) }
    }

    /// The caller's traceparent as given, checked (`submit` journals it for the worker that runs the run).
    /// - Throws: ``CLIError`` (exit 2) naming the option or variable when the value is not a W3C traceparent.
    static func traceparent(given: String?, environment: [String: String]) throws -> String? {
        let (value, origin): (String?, String) = given.map { ($0, "--traceparent") } ?? (environment["TRACEPARENT"], "TRACEPARENT")
        do {
            return try RunTelemetry.checkedTraceparent(value, origin: origin)
        } catch {
            throw CLIError(error.message, exitCode: 2)
        }
    }
}

/// What `run` and `submit` take to start a run: the file, its budget and its inputs.
struct RunRequestOptions: ParsableArguments {
    @Argument(help: "The workflow file (YAML).")
    var file: String

    @Option(parsing: .unconditional, help: "Budget in USD; overrides the file's `budget`.")
    var budget: String?

    @Flag(help: "Run with no budget at all (required when neither the file nor --budget sets one).")
    var noBudget = false

    @Option(name: .customLong("input"), help: "An input as NAME=VALUE (repeatable).")
    var inputs: [String] = []

    @Option(help: "A JSON or YAML file with an object of inputs.")
    var inputFile: String?

    @Option(name: .customLong("tag"), help: "A run tag as KEY=VALUE (repeatable; over the file's `tags:`): budget scopes select runs by tags.")
    var tags: [String] = []

    /// `--tag KEY=VALUE`s as a mapping (a later KEY wins).
    /// - Throws: ``CLIError`` (exit 2) naming `--tag` when one has no `=` or an empty KEY.
    func runTags() throws -> [String: String] {
        var result: [String: String] = [:]
        for text in tags {
            guard let (key, value) = BudgetScopeText.tag(text) else {
                throw CLIError("--tag '\(text)' must be KEY=VALUE with a non-empty KEY (e.g. --tag customer=acme)", exitCode: 2)
            }
            result[key] = value
        }
        return result
    }

    func validate() throws {
        if noBudget && budget != nil { throw ValidationError("--budget and --no-budget cannot be used together") }
    }

    /// The budget in force: nil for --no-budget, else --budget, else the file's.
    /// - Throws: ``CLIError`` (exit 2) when none is set or --budget is not an amount.
    func resolveBudget(_ definition: WorkflowDefinition) throws -> Money? {
        if noBudget { return nil }
        if let budget { return try BudgetArgument.parse(budget) }
        if let fileBudget = definition.budget { return fileBudget }
        throw CLIError("\(file) sets no budget: pass --budget USD (e.g. --budget 0.50), or --no-budget to run without a limit", exitCode: 2)
    }

    /// The run's inputs from --input and --input-file, checked against the workflow's.
    /// - Throws: ``CLIError`` (exit 2) naming the input.
    func bindInputs(_ definition: WorkflowDefinition) throws -> JSONValue {
        var fileValue: JSONValue?
        if let inputFile {
            fileValue = try InputFileReader.read(inputFile)
        }
        do {
            return try InputBinder.bind(definition, arguments: inputs, file: fileValue)
        } catch {
            throw CLIError("\(error)", exitCode: 2)
        }
    }
}

/// What `run` and `resume` share: the journal, cassette, pricing, approval and cache options,
/// `--json`, and how a run is driven, closed, summarised and turned into an exit code.
struct ExecutionOptions: ParsableArguments {
    @Flag(help: "Print one JSON object at the end instead of progress.")
    var json = false

    @Option(help: "Progress on stderr as text for people, or json: one JSON object a line with run_id, step_id, trace_id, span_id (default $WFLO_LOG_FORMAT, else text).")
    var logFormat: LogFormat?

    /// `--log-format`, else `WFLO_LOG_FORMAT`, else text.
    /// - Throws: ``CLIError`` (exit 2) for a `WFLO_LOG_FORMAT` that is neither text nor json.
    func resolvedLogFormat() throws -> LogFormat {
        if let logFormat { return logFormat }
        guard let value = ProcessInfo.processInfo.environment["WFLO_LOG_FORMAT"], !value.isEmpty else { return .text }
        guard let format = LogFormat(rawValue: value) else {
            throw CLIError("WFLO_LOG_FORMAT='\(value)' is not a log format: use text or json", exitCode: 2)
        }
        return format
    }

    @OptionGroup var store: StoreOptions
    @OptionGroup var cassette: CassetteOptions
    @OptionGroup var pricing: PricingOptions
    @OptionGroup var approvals: ApprovalOptions
    @OptionGroup var cache: CacheOptions

    /// How these options make a run reach the outside, with paths made absolute (a resume may
    /// be started from another folder).
    var mode: RunMode {
        RunMode(replay: cassette.replay.map(Self.absolute), record: cassette.record.map(Self.absolute), noCache: cache.noCache,
                pricing: pricing.files.map(Self.absolute))
    }

    private static func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)).standardizedFileURL.path
    }

    /// These options, with whatever the user did not say taken from how the run was started
    /// (``RunMode/continued(by:)``).
    func continuing(_ journaled: RunMode) -> ExecutionOptions {
        let mode = journaled.continued(by: mode)
        var options = self
        options.cassette.replay = mode.replay
        options.cassette.record = mode.record
        options.cache.noCache = mode.noCache
        options.pricing.files = mode.pricing
        return options
    }

    /// Opens the environment, hands `body` a run service wired to it (progress, approvals, cache),
    /// closes the environment however `body` ends, prints the summary and exits with the run's code.
    /// - Parameters:
    ///   - createJournal: `wflo run` creates a missing journal; `resume` does not.
    ///   - resuming: a recording continues the cassette the run began.
    ///   - stepTasks: `wflo run --spread-steps` (``SpreadOptions``).
    func execute(createJournal: Bool = false, resuming: Bool = false, stepTasks: StepTaskSettings? = nil,
                 _ body: (RunService) async throws -> RunResult) async throws {
        let result = try await reportingErrors { () -> RunResult in
            let environment = try await WfloEnvironment(store: store, cassette: cassette, pricing: pricing, createJournal: createJournal,
                                                  appendRecording: resuming)
            do {
                let observer = environment.console(json: json, approvals: approvals, dbOption: store.db, mode: mode, logs: try resolvedLogFormat())
                let result = try await body(environment.commandRuns(observer: observer, approvals: approvals.waitMode, cache: !cache.noCache,
                                                                    stepTasks: stepTasks))
                try await environment.close()
                return result
            } catch let error as EngineError {
                try? await environment.close()
                throw CLIError(error.description, exitCode: 2)
            } catch let error as StoreError {
                try? await environment.close()
                throw CLIError(error.message, exitCode: 2)
            } catch {
                try? await environment.close()
                throw error
            }
        }
        RunSummary.print(result, json: json, resumeHint: (store.db.map { " --db " + ShellQuote.word($0) } ?? "") + mode.arguments)
        if result.status.exitCode != 0 { throw ExitCode(result.status.exitCode) }
    }
}

extension RunMode {
    /// The options that say this mode again (` --replay FILE --no-cache …`), for hints.
    var arguments: String {
        var words: [String] = []
        if let replay { words += ["--replay", ShellQuote.word(replay)] }
        if let record { words += ["--record", ShellQuote.word(record)] }
        if noCache { words.append("--no-cache") }
        for file in pricing { words += ["--pricing", ShellQuote.word(file)] }
        return words.isEmpty ? "" : " " + words.joined(separator: " ")
    }
}

/// Prints the end of `run`/`resume`: a summary for people, or one JSON object.
enum RunSummary {
    static func json(_ result: RunResult) -> JSONValue {
        var object: [String: JSONValue] = [
            "run_id": .string(result.runID),
            "status": .string(result.status.rawValue),
            "budget_usd": result.ledger.budget.map { .string($0.exact()) } ?? .null,
            "spent_usd": .string(result.ledger.committed.exact()),
            "settled_usd": .string(result.ledger.settled.exact()),
            "unsettled_usd": .string(result.ledger.reserved.exact()),
            "outputs": result.outputs ?? .null,
        ]
        if let error = result.error { object["error"] = .string(error) }
        return .object(object)
    }

    /// - Parameter resumeHint: what follows `wflo resume RUN` in the hints (`--db`, the run's mode).
    static func print(_ result: RunResult, json: Bool, resumeHint: String = "") {
        if json {
            Console.out(self.json(result).encoded(sorted: true, pretty: true) + "\n")
            return
        }
        let ledger = result.ledger
        var line = "\nRun \(result.runID) \(result.status.rawValue) · spent \(ledger.committed.dollars())"
        if let budget = ledger.budget {
            line += " of \(budget.dollars())"
            if let pct = ledger.committed.percent(of: budget) { line += " (\(String(format: "%.1f", NSDecimalNumber(decimal: pct).doubleValue))%)" }
        }
        Console.out(line + "\n")
        if !ledger.reserved.isZero {
            Console.out("  includes \(ledger.reserved.dollars()) unsettled (in flight when a process died or the run was stopped)\n")
        }
        if let error = result.error { Console.out("  \(error)\n") }
        if let outputs = result.outputs?.objectValue, !outputs.isEmpty {
            Console.out("Outputs:\n")
            for key in outputs.keys.sorted() {
                let text = outputs[key]!.interpolated
                Console.out("  \(key): \(text.contains("\n") ? "\n    " + text.replacingOccurrences(of: "\n", with: "\n    ") : text)\n")
            }
        }
        switch result.status {
        case .completed: Console.out("Report: wflo report \(result.runID.prefix(8))\n")
        case .budgetExceeded, .failed:
            Console.out("Report: wflo report \(result.runID.prefix(8)) · continue: wflo resume \(result.runID.prefix(8))\(resumeHint)\(result.status == .budgetExceeded ? " --budget USD" : "")\n")
        case .waitingApproval:
            Console.out("Waiting: wflo approvals --run \(result.runID.prefix(8)) · then: wflo resume \(result.runID.prefix(8))\(resumeHint)\n")
        case .rejected:
            Console.out("Report: wflo report \(result.runID.prefix(8))\n")
        default: break
        }
    }
}
