import ArgumentParser
import Foundation
import WfloApp
import WfloCore
import WfloDSL
import WfloEngine
import WfloPricing
import WfloProviders
import WfloReports

struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a workflow file; every problem is reported with file:line:column.",
        discussion: """
            Also shows what a run would reserve: each paid step's worst case (from the step as written; templates
            filled at run time can only add input) and the total against the budget, a max_tokens above the model's
            limit, and API keys and secrets the steps need that are not set.
            Exit codes: 0 valid, 2 invalid (or a paid step whose worst case alone is above the budget: run refuses it).
            """
    )

    @Argument(help: "The workflow file (YAML).")
    var file: String

    @OptionGroup var pricing: PricingOptions

    func run() async throws {
        try await reportingErrors {
            let table: PricingTable
            do {
                table = try PricingTable.load(overlays: pricing.files, environment: ProcessInfo.processInfo.environment)
            } catch {
                throw CLIError("\(error)", exitCode: 2)
            }
            let (definition, _) = try WorkflowLoader.load(path: file, pricing: table)
            let effective = try WorkflowLoader.effectivePricing(table, for: definition)
            let report = ValidationReport(definition: definition, file: file, pricing: effective,
                                          environment: ProcessInfo.processInfo.environment)
            Console.out(report.text)
            for warning in report.warnings { Console.err(warning + "\n") }
            if !report.refused.isEmpty {
                for refusal in report.refused { Console.err(refusal + "\n") }
                throw ExitCode(2)
            }
        }
    }
}

/// What `wflo validate` says of a valid workflow: steps, paid steps with their worst cases, the
/// total against the budget, and warnings for what would make a run fail or differ from the file.
struct ValidationReport {
    var text = ""
    var warnings: [String] = []
    /// Paid steps that a run refuses before any call (their worst case alone is above the budget).
    var refused: [String] = []

    init(definition: WorkflowDefinition, file: String, pricing: PricingTable, environment: [String: String]) {
        let paid = PlanEstimate.paidSteps(of: definition, pricing: pricing)
        var line = "\(file): valid · \(definition.steps.count) step\(definition.steps.count == 1 ? "" : "s") (\(paid.count) paid)"
        if let budget = definition.budget { line += " · budget \(budget.dollars())" }
        text = line + "\n"
        if !paid.isEmpty { describe(paid, definition: definition, file: file, pricing: pricing, environment: environment) }
        // Secrets the templates read.
        let secrets = SecretStore(environment: environment, filePath: SecretStore.defaultPath(environment: environment))
        var missing: [String: [String]] = [:]
        for step in definition.steps {
            for path in step.templates.flatMap(\.references) where path.count >= 2 && path[0] == "secrets" {
                if (try? secrets.value(path[1])) == nil, missing[path[1]]?.contains(step.id) != true { missing[path[1], default: []].append(step.id) }
            }
        }
        for name in missing.keys.sorted() {
            warnings.append("warning: secret \(name) is not set (export WFLO_SECRET_\(name), or add \(name)=… to ~/.wflo/secrets): "
                            + "step\(missing[name]!.count == 1 ? "" : "s") \(missing[name]!.joined(separator: ", ")) will fail")
        }
    }

    private mutating func describe(_ paid: [StepEstimate], definition: WorkflowDefinition, file: String, pricing: PricingTable,
                                   environment: [String: String]) {
        var rows: [[String]] = []
        var total = Money.zero
        var totalKnown = true
        for step in paid {
            let place = step.location.map { "\($0): " } ?? "\(file): "
            let calls = step.calls.map { $0 == 1 ? "1 call" : "\($0) calls" } ?? "per item (items known at run time)"
            rows.append([step.stepID, step.type.rawValue, step.model, step.perCall?.formatted(decimals: 6) ?? "?", calls,
                         (step.perCall.flatMap { perCall in step.calls.map { perCall * $0 } })?.formatted(decimals: 6) ?? "?"])
            if let perToolCall = step.perToolCall {
                let toolCalls = step.toolCalls.map { $0 == 1 ? "1 tool call" : "\($0) tool calls" } ?? "per item (items known at run time)"
                rows.append([step.stepID, step.type.rawValue, "MCP tools (price_per_call)", perToolCall.formatted(decimals: 6), toolCalls,
                             step.toolCalls.map { (perToolCall * $0).formatted(decimals: 6) } ?? "?"])
            }
            if let stepTotal = step.total { total += stepTotal } else { totalKnown = false }
            if let problem = step.problem { warnings.append("\(place)warning: step '\(step.stepID)': \(problem)") }
            if let limit = step.modelLimit {
                warnings.append("\(place)warning: step '\(step.stepID)': max_tokens \(step.maxTokens) is above \(step.model)'s limit of \(limit) "
                                + "output tokens; wflo sends max_tokens \(limit) (write max_tokens: \(limit) or less to say so)")
            }
            if let budget = definition.budget, let perCall = step.perCall, budget < perCall {
                refused.append("\(place)error: step '\(step.stepID)': one call's worst case \(perCall.dollars()) is above the budget "
                               + "\(budget.dollars()): a run refuses it before sending anything (raise the budget or lower max_tokens)")
            }
        }
        text += TextTable(header: ["paid step", "type", "model", "worst case / call (USD)", "calls", "worst case (USD)"], rows: rows,
                          rightAligned: [3, 5]).render(separatorBefore: nil)
        var summary = "total worst case \(totalKnown ? "" : "at least ")\(total.dollars())"
        if let budget = definition.budget {
            summary += " against the budget \(budget.dollars())"
            if budget < total {
                summary += ": the run may stop with budget_exceeded before its last paid steps"
            }
        }
        text += summary + " (input counted as written; filled templates add to it)\n"
        // Keys the providers of these steps need.
        var needs: [String: [String]] = [:]
        for step in paid {
            guard let provider = try? pricing.price(for: step.model).provider else { continue }
            let key = provider == "anthropic" ? "ANTHROPIC_API_KEY" : provider.hasPrefix("openai") || provider == "text-completion-openai" ? "OPENAI_API_KEY" : nil
            if let key, (environment[key] ?? "").isEmpty { needs[key, default: []].append(step.stepID) }
        }
        for key in needs.keys.sorted() {
            warnings.append("warning: \(key) is not set: step\(needs[key]!.count == 1 ? "" : "s") \(needs[key]!.joined(separator: ", ")) "
                            + "will fail unless it is exported (or the run replays a cassette: --replay FILE)")
        }
    }
}
