import Foundation
import WfloCore
import WfloDSL
import WfloPricing

/// Reads a workflow file, validates it (models priced with the workflow's own `pricing:` block
/// layered on the table), and returns the definition with its source text.
/// Every problem is an ``AppError`` `.invalidInput` whose message is the `file:line:col: error: …` lines.
public enum WorkflowLoader {
    public static func load(path: String, pricing: PricingTable, sources: WorkflowSources = WorkflowSources()) throws -> (WorkflowDefinition, String) {
        let source: String
        do {
            source = try WorkflowParser.readText(fileAt: path)
        } catch {
            throw AppError(.invalidInput, error.diagnostics.map(\.description).joined(separator: "\n"))
        }
        let definition = try parse(source: source, file: path, pricing: pricing, sources: sources)
        return (definition, source)
    }

    public static func parse(source: String, file: String, pricing: PricingTable, sources: WorkflowSources = WorkflowSources()) throws -> WorkflowDefinition {
        // One pass reports every problem. Models the file prices in its own `pricing:` block are
        // taken as priced by the parser; the rest are checked against the table here.
        let parser = WorkflowParser(modelCheck: { model in
            do {
                _ = try pricing.price(for: model)
                return nil
            } catch {
                // The closest priced name, for a typo (`gpt-4o-mnii`).
                let suggestion = WorkflowParser.didYouMean(model, in: pricing.modelNames.sorted())
                return suggestion.isEmpty ? "\(error)" : "\(error)" + suggestion
            }
        }, sources: sources)
        let definition: WorkflowDefinition
        do {
            definition = try parser.parse(yaml: source, file: file)
        } catch {
            throw AppError(.invalidInput, error.diagnostics.map(\.description).joined(separator: "\n"))
        }
        _ = try effectivePricing(pricing, for: definition)
        return definition
    }

    public static func effectivePricing(_ pricing: PricingTable, for definition: WorkflowDefinition) throws -> PricingTable {
        guard let block = definition.pricing else { return pricing }
        do {
            return try pricing.layered(with: block, source: "workflow '\(definition.name)' pricing block")
        } catch {
            throw AppError(.invalidInput, "the workflow's pricing block: \(error)")
        }
    }
}
