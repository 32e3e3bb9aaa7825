import Foundation
import WfloCore
import WfloDSL
import WfloPricing

/// Reads a workflow file, validates it (models priced with the workflow's own `pricing:` block
/// layered on the table), and returns the definition with its source text.
enum WorkflowLoader {
    static func load(path: String, pricing: PricingTable) throws -> (WorkflowDefinition, String) {
        let source: String
        do {
            source = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw CLIError("cannot read the workflow file \(path): \(error.localizedDescription)", exitCode: 2)
        }
        return (try parse(source: source, file: path, pricing: pricing), source)
    }

    static func parse(source: String, file: String, pricing: PricingTable) throws -> WorkflowDefinition {
        // First pass finds the `pricing:` block; the second checks every model against the table
        // with that block layered on, so a workflow can price its own models.
        let draft = try check { try WorkflowParser().parse(yaml: source, file: file) }
        let table = try effectivePricing(pricing, for: draft)
        let parser = WorkflowParser(modelCheck: { model in
            do {
                _ = try table.price(for: model)
                return nil
            } catch {
                return "\(error)"
            }
        })
        return try check { try parser.parse(yaml: source, file: file) }
    }

    static func effectivePricing(_ pricing: PricingTable, for definition: WorkflowDefinition) throws -> PricingTable {
        guard let block = definition.pricing else { return pricing }
        do {
            return try pricing.layered(with: block, source: "workflow '\(definition.name)' pricing block")
        } catch {
            throw CLIError("the workflow's pricing block: \(error)", exitCode: 2)
        }
    }

    private static func check(_ body: () throws -> WorkflowDefinition) throws -> WorkflowDefinition {
        do {
            return try body()
        } catch let error as WorkflowValidationError {
            throw CLIError(error.diagnostics.map(\.description).joined(separator: "\n"), exitCode: 2)
        }
    }
}
