import ArgumentParser
import Foundation
import WfloCore
import WfloPricing

/// `wflo pricing show|list|cost`: thin; the text and JSON come from `PricingPresenter`.
/// A pricing error (unknown model, unreadable file) exits with code 2, its message naming the
/// model and how to price it.
struct PricingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pricing",
        abstract: "The pricing table: show a model, list models, price a usage exactly.",
        subcommands: [Show.self, List.self, Cost.self]
    )

    static let pricingHelp = ArgumentHelp("A LiteLLM-format pricing file that adds or overrides models (repeatable).", valueName: "FILE")

    /// Loads the table with `--pricing` files on top and runs `body`; pricing errors exit with code 2.
    static func render(_ files: [String], _ body: (PricingTable) throws -> String) async throws {
        try await reportingErrors {
            do {
                let table = try PricingTable.load(overlays: files, environment: ProcessInfo.processInfo.environment)
                Console.out(try body(table))
            } catch let error as PricingError {
                throw CLIError(error.message, exitCode: 2)
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A model's rates, limits and the file they came from.")
        @Argument(help: "The model (a table key, or provider/model).") var model: String
        @Flag(help: "Print the entry as JSON.") var json = false
        @Option(name: .customLong("pricing"), help: PricingCommand.pricingHelp) var pricingFiles: [String] = []

        func run() async throws {
            try await PricingCommand.render(pricingFiles) { try PricingPresenter.show(table: $0, model: model, json: json) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every model of the table, with input and output prices per 1M tokens.")
        @Option(help: "Only models of this litellm_provider (openai, anthropic, …).") var provider: String?
        @Flag(help: "Print JSON (money as decimal strings).") var json = false
        @Option(name: .customLong("pricing"), help: PricingCommand.pricingHelp) var pricingFiles: [String] = []

        func run() async throws {
            try await PricingCommand.render(pricingFiles) { try PricingPresenter.list(table: $0, provider: provider, json: json) }
        }
    }

    struct Cost: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The exact cost in USD of one call's usage.",
            discussion: """
                --input counts all prompt tokens, cached and cache-written ones included (OpenAI's prompt_tokens); \
                --cached-input and --cache-write say how many of them were read from or written to the cache; \
                --reasoning says how many of --output were reasoning tokens.
                """
        )
        @Argument(help: "The model (a table key, or provider/model).") var model: String
        @Option(help: "All prompt tokens.") var input: Int
        @Option(help: "All completion tokens, reasoning included.") var output: Int
        @Option(help: "Prompt tokens read from the provider's cache.") var cachedInput = 0
        @Option(help: "Prompt tokens written to the cache (5-minute).") var cacheWrite = 0
        @Option(name: .customLong("cache-write-1h"), help: "Prompt tokens written to the cache (1-hour).") var cacheWrite1h = 0
        @Option(help: "Completion tokens that were reasoning.") var reasoning = 0
        @Flag(help: "Print JSON (money as decimal strings).") var json = false
        @Option(name: .customLong("pricing"), help: PricingCommand.pricingHelp) var pricingFiles: [String] = []

        func validate() throws {
            let counts = [("--input", input), ("--output", output), ("--cached-input", cachedInput),
                          ("--cache-write", cacheWrite), ("--cache-write-1h", cacheWrite1h), ("--reasoning", reasoning)]
            for (name, value) in counts where value < 0 {
                throw ValidationError("\(name) cannot be negative")
            }
            if cachedInput + cacheWrite + cacheWrite1h > input {
                throw ValidationError("--cached-input + --cache-write + --cache-write-1h (\(cachedInput + cacheWrite + cacheWrite1h)) cannot exceed --input (\(input)): --input counts all prompt tokens")
            }
            if reasoning > output {
                throw ValidationError("--reasoning (\(reasoning)) cannot exceed --output (\(output)): --output counts all completion tokens")
            }
        }

        func run() async throws {
            let usage = TokenUsage(inputTokens: input, cachedInputTokens: cachedInput, cacheWriteTokens: cacheWrite,
                                   cacheWrite1hTokens: cacheWrite1h, outputTokens: output, reasoningTokens: reasoning)
            try await PricingCommand.render(pricingFiles) { try PricingPresenter.cost(table: $0, model: model, usage: usage, json: json) }
        }
    }
}
