// The brief of Examples/brief, built and run from Swift: same engine, same journal, same budget
// rules. Runs offline from the brief's cassette:
//   swift run wflo-swift-example [JOURNAL]
import Foundation
import WfloCore
import WfloKit

let brief = try Workflow("brief", description: "A short research brief, built in Swift.", budget: Money(string: "0.10"),
                         inputs: [InputDefinition(name: "topic", defaultValue: "solid-state batteries")],
                         outputs: ["brief": "{{steps.draft.output.text}}"]) {
    try Step.llm("outline", model: "gpt-4o-mini", prompt: "Outline a brief on {{inputs.topic}}", maxTokens: 200)
    try Step.llm("facts", model: "gpt-4o-mini", prompt: "List three facts about {{inputs.topic}}", maxTokens: 200)
    try Step.llm("draft", model: "claude-sonnet-4-5", system: "Be brief.",
                 prompt: "Write the brief from {{steps.outline.output.text}} and {{steps.facts.output.text}}", maxTokens: 300)
}

let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
let cassette = here.deletingLastPathComponent().appendingPathComponent("brief/cassette.json").path
let journal = CommandLine.arguments.dropFirst().first
    ?? FileManager.default.temporaryDirectory.appendingPathComponent("wflo-swift-example-\(UUID().uuidString).db").path
let runtime = try WfloRuntime(journal: journal, replay: cassette)
let result = try await runtime.run(brief)
try await runtime.shutdown()
print("run \(result.runID) \(result.status.rawValue) · spent \(result.ledger.committed.dollars()) of \(result.ledger.budget?.dollars() ?? "-")")
print(result.outputs?["brief"]?.stringValue ?? "")
exit(result.status.exitCode)
