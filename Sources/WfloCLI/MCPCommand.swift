import ArgumentParser
import Foundation
import WfloApp
import WfloCore
import WfloEngine
import WfloPricing

/// `wflo mcp tools FILE STEP`.
struct MCPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp",
        abstract: "Look at the MCP servers an agent's tools come from.",
        subcommands: [MCPToolsCommand.self]
    )
}

struct MCPToolsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tools",
        abstract: "List the tools an agent step's MCP servers offer (as the model would see them).",
        discussion: """
            Stdio servers are started in the sandbox exactly as a run starts them, then stopped; Streamable HTTP
            servers are reached under the workflow's egress policy. Names are shown with the server's prefix; a tool
            the 'tools' allowlist leaves out is not shown. Exit codes: 0 listed; 2 an invalid workflow, no such agent
            step, or a server that cannot start or answer (the message says why, with the end of its stderr).
            """
    )

    @Argument(help: "The workflow file (YAML).")
    var file: String

    @Argument(help: "The id of the agent step.")
    var step: String

    @Option(name: .customLong("input"), help: "An input as NAME=VALUE, for templates in the servers' fields (repeatable).")
    var inputs: [String] = []

    @Flag(help: "Print a JSON array with each tool's parameters (its JSON Schema).")
    var json = false

    @OptionGroup var pricing: PricingOptions

    func run() async throws {
        try await reportingErrors {
            let table: PricingTable
            do {
                table = try PricingTable.load(overlays: pricing.files, environment: ProcessInfo.processInfo.environment)
            } catch {
                throw CLIError("\(error)", exitCode: 2)
            }
            let tools: [MCPListedTool]
            do {
                tools = try await MCPToolService.tools(path: file, stepID: step, inputs: inputs, pricing: table)
            } catch let error as AppError where error.code == .invalidInput {
                throw CLIError(error.message, exitCode: 2)
            }
            if json {
                let list = JSONValue.array(tools.map { tool in
                    ["server": .string(tool.server), "name": .string(tool.name), "description": .string(tool.description),
                     "parameters": tool.parameters, "price_usd": tool.price.map { .string($0.description) } ?? .null,
                     "approval": .bool(tool.approval)]
                })
                Console.out(list.encoded(sorted: true, pretty: true) + "\n")
                return
            }
            if tools.isEmpty {
                Console.out("no tools: the servers offer none the allowlists let through\n")
                return
            }
            let width = tools.map { $0.server.count + $0.name.count + 1 }.max() ?? 0
            for tool in tools {
                var line = "\(tool.server)/\(tool.name)".padding(toLength: width + 2, withPad: " ", startingAt: 0) + tool.description
                var notes: [String] = []
                if let price = tool.price { notes.append("\(price.dollars()) per call") }
                if tool.approval { notes.append("approval required") }
                if !notes.isEmpty { line += " (" + notes.joined(separator: ", ") + ")" }
                let arguments = tool.parameters["properties"]?.objectValue?.keys.sorted() ?? []
                Console.out(line + "\n" + "".padding(toLength: width + 2, withPad: " ", startingAt: 0)
                            + "arguments: " + (arguments.isEmpty ? "none" : arguments.joined(separator: ", ")) + "\n")
            }
        }
    }
}
