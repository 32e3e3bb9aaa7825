import ArgumentParser
import Foundation
import WfloCore
import WfloPricing

struct PricingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pricing",
        abstract: "The pricing table: show a model, list models, price a usage exactly.",
        subcommands: [Show.self, List.self, Cost.self]
    )

    static func table(_ options: PricingOptions) throws -> PricingTable {
        do {
            return try PricingTable.load(overlays: options.files, environment: ProcessInfo.processInfo.environment)
        } catch {
            throw CLIError("\(error)", exitCode: 2)
        }
    }

    static func priced(_ body: () throws -> String) throws -> String {
        do {
            return try body()
        } catch let error as PricingError {
            throw CLIError(error.message, exitCode: 2)
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A model's rates, limits and source.")
        @Argument var model: String
        @Flag var json = false
        @OptionGroup var pricing: PricingOptions

        func run() async throws {
            try await reportingErrors {
                let table = try PricingCommand.table(pricing)
                Console.out(try PricingCommand.priced { try PricingPresenter.show(table: table, model: model, json: json) })
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every model of the table (per 1M tokens).")
        @Option(help: "Only this litellm_provider (openai, anthropic, …).") var provider: String?
        @Flag var json = false
        @OptionGroup var pricing: PricingOptions

        func run() async throws {
            try await reportingErrors {
                Console.out(PricingPresenter.list(table: try PricingCommand.table(pricing), provider: provider, json: json))
            }
        }
    }

    struct Cost: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The exact cost of a usage.",
            discussion: "--input counts all prompt tokens (cached and cache-written ones included); --reasoning counts how many of --output were reasoning."
        )
        @Argument var model: String
        @Option(help: "All prompt tokens.") var input: Int
        @Option(help: "Completion tokens, reasoning included.") var output: Int
        @Option(help: "Prompt tokens read from the provider's cache.") var cachedInput = 0
        @Option(help: "Prompt tokens written to the cache (5-minute).") var cacheWrite = 0
        @Option(name: .customLong("cache-write-1h"), help: "Prompt tokens written to the cache (1-hour).") var cacheWrite1h = 0
        @Option(help: "Output tokens that were reasoning.") var reasoning = 0
        @Flag var json = false
        @OptionGroup var pricing: PricingOptions

        func validate() throws {
            for (name, value) in [("--input", input), ("--output", output), ("--cached-input", cachedInput), ("--cache-write", cacheWrite),
                                  ("--cache-write-1h", cacheWrite1h), ("--reasoning", reasoning)] where value < 0 {
                throw ValidationError("\(name) cannot be negative")
            }
            if cachedInput + cacheWrite + cacheWrite1h > input {
                throw ValidationError("--cached-input + --cache-write + --cache-write-1h (\(cachedInput + cacheWrite + cacheWrite1h)) cannot exceed --input (\(input)): --input counts all prompt tokens")
            }
            if reasoning > output { throw ValidationError("--reasoning (\(reasoning)) cannot exceed --output (\(output))") }
        }

        func run() async throws {
            try await reportingErrors {
                let table = try PricingCommand.table(pricing)
                let usage = TokenUsage(inputTokens: input, cachedInputTokens: cachedInput, cacheWriteTokens: cacheWrite,
                                       cacheWrite1hTokens: cacheWrite1h, outputTokens: output, reasoningTokens: reasoning)
                Console.out(try PricingCommand.priced { try PricingPresenter.cost(table: table, model: model, usage: usage, json: json) })
            }
        }
    }
}
