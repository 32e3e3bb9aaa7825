import ArgumentParser
import Foundation
import WfloCore
import WfloPricing

struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a workflow file; every problem is reported with file:line:column.",
        discussion: "Exit codes: 0 valid, 2 invalid."
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
            let paid = definition.steps.filter { $0.type == .llm }.count
            var line = "\(file): valid · \(definition.steps.count) step\(definition.steps.count == 1 ? "" : "s") (\(paid) paid)"
            if let budget = definition.budget { line += " · budget \(budget.dollars())" }
            Console.out(line + "\n")
        }
    }
}
