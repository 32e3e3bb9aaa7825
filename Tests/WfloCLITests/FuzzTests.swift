import Foundation
import Testing
import WfloApp
import WfloCore
import WfloDSL
import WfloPricing
import WfloTesting
@testable import WfloCLI

/// Mutational fuzzing of the readers a hostile file reaches (issue 22): the workflow YAML reader
/// (as `validate` and `run` read a file, and as `--input-file` reads values) and the pricing
/// reader (a `--pricing` file, and a workflow's `pricing:` block, then priced as `run` prices).
/// Each mutant must give a value or an error — a crash (trap, stack overflow) kills the test
/// process, which fails CI. The loops yield after every mutant so the rest of the suite, which
/// shares the concurrency pool (two threads here), is not starved while they run.
///
/// Deterministic: mutant `i` of a run with seed `S` is ``Mutator`` seeded `S &+ i` applied to
/// seed file `i % seeds`. `swift test` runs a short pass; for a long one set
/// `WFLO_FUZZ_MUTANTS` (per target), optionally `WFLO_FUZZ_SEED`, and `WFLO_FUZZ_LAST` to a
/// file that holds the mutant being read (what is left there after a crash is the reproducer):
///
///     WFLO_FUZZ_MUTANTS=100000 WFLO_FUZZ_LAST=/tmp/mutant swift test --filter FuzzTests
@Suite(.serialized)
struct FuzzTests {
    static let environment = ProcessInfo.processInfo.environment
    static let mutants = environment["WFLO_FUZZ_MUTANTS"].flatMap(Int.init) ?? 300
    static let seed = environment["WFLO_FUZZ_SEED"].flatMap(UInt64.init) ?? 22
    static let root = WfloProcess.repositoryRoot

    static let shipped: PricingTable = {
        let path = root.appendingPathComponent("pricing").appendingPathComponent(PricingTable.shippedFileName).path
        do { return try PricingTable.read(path: path) } catch { fatalError("cannot load the shipped table: \(error)") }
    }()

    /// Every example workflow, as bytes.
    static func workflowSeeds() throws -> [[UInt8]] {
        let examples = root.appendingPathComponent("Examples")
        var seeds: [[UInt8]] = []
        for folder in try FileManager.default.contentsOfDirectory(atPath: examples.path).sorted() {
            let directory = examples.appendingPathComponent(folder)
            for file in (try? FileManager.default.contentsOfDirectory(atPath: directory.path))?.sorted() ?? [] where file.hasSuffix(".yaml") {
                seeds.append(Array(try Data(contentsOf: directory.appendingPathComponent(file))))
            }
        }
        return seeds
    }

    /// The table the pricing mutants are layered on: the seed entries themselves. Layering reads
    /// the overlay the same way whatever lies beneath, and copying the whole shipped table for
    /// every mutant would make the short run long.
    static let base: PricingTable = {
        do { return try PricingTable(json: pricingEntries(), source: "fuzz base") } catch { fatalError("the fuzz base table: \(error)") }
    }()

    /// Entries of the shipped table (every 97th model, with its fields as shipped), as a pricing file.
    static func pricingEntries() throws -> JSONValue { try entries.get() }

    static let entries: Result<JSONValue, any Error> = Result { try readPricingEntries() }

    static func readPricingEntries() throws -> JSONValue {
        let path = root.appendingPathComponent("pricing").appendingPathComponent(PricingTable.shippedFileName).path
        let all = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: path))).objectValue ?? [:]
        var chosen: [String: JSONValue] = [:]
        for (index, key) in all.keys.sorted().enumerated() where index % 97 == 0 && key != "sample_spec" {
            chosen[key] = all[key]
        }
        chosen["fuzz-model"] = ["input_cost_per_token": .number("1.5e-07"), "output_cost_per_token": .number("6.0e-07"),
                                "litellm_provider": "openai", "max_output_tokens": 4096]
        return .object(chosen)
    }

    /// Writes the mutant about to be read where `WFLO_FUZZ_LAST` says, so a crash leaves it behind.
    static func remember(_ bytes: [UInt8], index: Int) {
        guard let path = environment["WFLO_FUZZ_LAST"] else { return }
        try? Data(bytes).write(to: URL(fileURLWithPath: path))
        try? Data("seed \(seed) mutant \(index)\n".utf8).write(to: URL(fileURLWithPath: path + ".index"))
    }

    struct Tally: CustomStringConvertible {
        var values = 0
        var errors = 0
        var findings: [String] = []
        var description: String { "\(values + errors) mutants: \(values) read, \(errors) refused, 0 crashes" }
    }

    /// Prices every model of `table` the mutant names, as `run` would: a value or an error, never
    /// a trap. Counts prices the budget could not compare (item 4, not fixed here) as findings.
    static func price(_ table: PricingTable, models: [String], tally: inout Tally) {
        for model in models {
            do {
                let estimate = try table.worstCase(model: model, request: RequestShape(bodyBytes: 2_000, messageCount: 2, maxTokens: 1_000))
                let cost = try table.cost(model: model, usage: TokenUsage(inputTokens: 500, outputTokens: 1_000)).total
                if estimate.cost.isNegative || cost.isNegative || "\(estimate.cost)".lowercased().contains("nan") {
                    tally.findings.append("\(model): worst case \(estimate.cost), cost \(cost)")
                }
            } catch {
                #expect(!"\(error)".isEmpty)
            }
        }
    }

    @Test func theWorkflowReaderGivesAValueOrAnErrorForEveryMutant() async throws {
        let seeds = try Self.workflowSeeds()
        try #require(!seeds.isEmpty)
        var tally = Tally()
        for index in 0..<Self.mutants {
            var mutator = Mutator(seed: Self.seed &+ UInt64(index))
            let mutant = mutator.mutate(seeds[index % seeds.count])
            Self.remember(mutant, index: index)
            // Hand the thread back between mutants: the suites run side by side on a pool as wide
            // as the machine, and a long loop that never yields starves their async tests.
            await Task.yield()
            // `run` and `validate` refuse text that is not UTF-8 before parsing; the repaired text is parsed here.
            let text = String(decoding: mutant, as: UTF8.self)
            do {
                _ = try WorkflowLoader.parse(source: text, file: "fuzz.yaml", pricing: Self.shipped)
                tally.values += 1
            } catch let error as AppError {
                #expect(error.message.contains("fuzz.yaml") || error.message.contains("pricing"), "\(error.message)")
                tally.errors += 1
            }
            // The same bytes as an --input-file.
            _ = try? YAMLValue.parse(text, file: "inputs.yaml")
        }
        print("fuzz: workflow reader (seed \(Self.seed)): \(tally)")
    }

    @Test func thePricingFileReaderGivesAValueOrAnErrorForEveryMutant() async throws {
        let seed = Array(try Self.pricingEntries().encoded(sorted: true, pretty: true).utf8)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("wflo-fuzz-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("pricing.json").path
        var tally = Tally()
        for index in 0..<Self.mutants {
            var mutator = Mutator(seed: Self.seed &+ 1_000_000 &+ UInt64(index))
            let mutant = mutator.mutate(seed)
            Self.remember(mutant, index: index)
            // Hand the thread back between mutants: the suites run side by side on a pool as wide
            // as the machine, and a long loop that never yields starves their async tests.
            await Task.yield()
            try Data(mutant).write(to: URL(fileURLWithPath: path))
            do {
                let table = try Self.base.layered(withFile: path)   // what --pricing FILE does
                tally.values += 1
                let models = (try? JSONValue.parse(Data(mutant)))?.objectValue.map { Array($0.keys) } ?? []
                Self.price(table, models: models, tally: &tally)
            } catch {
                #expect(error is PricingError, "\(error)")
                tally.errors += 1
            }
        }
        print("fuzz: pricing file reader (seed \(Self.seed)): \(tally); \(tally.findings.count) prices the budget cannot compare (issue 22 item 4)")
        for finding in tally.findings.prefix(5) { print("fuzz: pricing finding: \(finding)") }
    }

    @Test func theWorkflowPricingBlockGivesAValueOrAnErrorForEveryMutant() async throws {
        let entries = try Self.pricingEntries().objectValue ?? [:]
        let models = entries.keys.sorted().prefix(4)
        var block = "pricing:\n"
        for model in models {
            block += "  \(JSONValue.string(model).encoded()): \(entries[model]!.encoded())\n"
        }
        var steps = "steps:\n"
        for (index, model) in models.enumerated() {
            steps += "  - {id: s\(index), type: llm, model: \(JSONValue.string(model).encoded()), prompt: hi, max_tokens: 100}\n"
        }
        let seed = Array(("name: fuzz\nbudget: 0.01\n" + block + steps).utf8)
        var tally = Tally()
        for index in 0..<Self.mutants {
            var mutator = Mutator(seed: Self.seed &+ 2_000_000 &+ UInt64(index))
            let mutant = mutator.mutate(seed)
            Self.remember(mutant, index: index)
            // Hand the thread back between mutants: the suites run side by side on a pool as wide
            // as the machine, and a long loop that never yields starves their async tests.
            await Task.yield()
            do {
                let definition = try WorkflowLoader.parse(source: String(decoding: mutant, as: UTF8.self), file: "fuzz.yaml", pricing: Self.base)
                let table = try WorkflowLoader.effectivePricing(Self.base, for: definition)
                tally.values += 1
                let priced = definition.steps.compactMap { step -> String? in
                    if case .llm(let llm) = step.kind { return llm.model }
                    return nil
                }
                Self.price(table, models: priced, tally: &tally)
            } catch let error as AppError {
                #expect(!error.message.isEmpty)
                tally.errors += 1
            }
        }
        print("fuzz: workflow pricing block (seed \(Self.seed)): \(tally); \(tally.findings.count) prices the budget cannot compare (issue 22 item 4)")
        for finding in tally.findings.prefix(5) { print("fuzz: pricing finding: \(finding)") }
    }
}
