import Foundation
import Testing
import WfloCore
import WfloDSL

/// The workflow of the issue's contract: scripts rely on it parsing exactly so.
@Suite struct ContractWorkflowTests {
    static let contract = """
    name: brief
    budget: 0.10
    inputs:
      topic: {type: string, default: "solid-state batteries"}
    steps:
      - id: outline
        type: llm
        model: gpt-4o-mini
        prompt: "Outline a brief on {{inputs.topic}}"
        max_tokens: 200
      - id: facts
        type: llm
        model: gpt-4o-mini
        prompt: "List three facts about {{inputs.topic}}"
        max_tokens: 200
      - id: draft
        type: llm
        depends_on: [outline, facts]
        model: claude-sonnet-4-5
        system: "Be brief."
        prompt: "Write the brief from {{steps.outline.output.text}} and {{steps.facts.output.text}}"
        max_tokens: 300
    outputs:
      brief: "{{steps.draft.output.text}}"
    """

    @Test func contractFileParsesToTheExpectedDefinition() throws {
        let definition = try WorkflowParser().parse(yaml: Self.contract, file: "brief.yaml")

        let expected = WorkflowDefinition(
            name: "brief",
            budget: Money(string: "0.10"),
            inputs: [InputDefinition(name: "topic", type: .string, defaultValue: .string("solid-state batteries"))],
            steps: [
                StepDefinition(id: "outline", kind: .llm(LLMStepDefinition(
                    model: "gpt-4o-mini", prompt: template("Outline a brief on {{inputs.topic}}"), maxTokens: 200)),
                    location: SourceLocation(file: "brief.yaml", line: 6, column: 5)),
                StepDefinition(id: "facts", kind: .llm(LLMStepDefinition(
                    model: "gpt-4o-mini", prompt: template("List three facts about {{inputs.topic}}"), maxTokens: 200)),
                    location: SourceLocation(file: "brief.yaml", line: 11, column: 5)),
                StepDefinition(id: "draft", dependsOn: ["outline", "facts"], kind: .llm(LLMStepDefinition(
                    model: "claude-sonnet-4-5", system: template("Be brief."),
                    prompt: template("Write the brief from {{steps.outline.output.text}} and {{steps.facts.output.text}}"),
                    maxTokens: 300)),
                    location: SourceLocation(file: "brief.yaml", line: 16, column: 5)),
            ],
            outputs: [OutputDefinition(name: "brief", value: .template(template("{{steps.draft.output.text}}")))])
        #expect(definition == expected)
    }

    @Test func budgetIsExactlyTenCents() throws {
        let definition = try WorkflowParser().parse(yaml: Self.contract, file: "brief.yaml")
        #expect(definition.budget?.amount == Decimal(string: "0.1"))
        #expect(definition.budget?.description == "0.1")
    }

    @Test func draftWaitsForOutlineAndFacts() throws {
        let definition = try WorkflowParser().parse(yaml: Self.contract, file: "brief.yaml")
        #expect(definition.steps.map(\.id) == ["outline", "facts", "draft"])
        #expect(definition.step("draft")?.allDependencies == ["outline", "facts"])
        #expect(definition.step("outline")?.allDependencies == [])
    }

    @Test func llmDefaultsAreNoTemperatureNoStopAndTextResponses() throws {
        let definition = try WorkflowParser().parse(yaml: Self.contract, file: "brief.yaml")
        guard case .llm(let llm) = definition.steps[0].kind else {
            Issue.record("outline is not an llm step")
            return
        }
        #expect(llm.temperature == nil)
        #expect(llm.stop == [])
        #expect(llm.jsonResponse == false)
        #expect(llm.provider == nil)
        #expect(definition.steps[0].retry == nil)
        #expect(definition.steps[0].timeout == nil)
    }

    @Test(arguments: ["Examples/brief/workflow.yaml", "Examples/transform/workflow.yaml"])
    func exampleWorkflowParses(path: String) throws {
        let full = repositoryRoot.appendingPathComponent(path).path
        let (definition, source) = try WorkflowParser().parse(fileAt: full)
        #expect(!definition.steps.isEmpty)
        #expect(source.contains("name: \(definition.name)"))
        #expect(definition.steps.allSatisfy { $0.location?.file == full })
    }

    @Test func transformExampleRunsInOrderAndBindsItsInputs() throws {
        let path = repositoryRoot.appendingPathComponent("Examples/transform/workflow.yaml").path
        let (definition, _) = try WorkflowParser().parse(fileAt: path)
        #expect(definition.steps.allSatisfy { $0.type == .transform })
        #expect(definition.step("card")?.allDependencies == ["greeting", "signature"])
        #expect(definition.outputs.map(\.name) == ["card", "title"])
        let inputs = try InputBinder.bind(definition, arguments: ["recipient=Ada"], file: nil)
        #expect(inputs == ["recipient": "Ada", "sender": "the wflo team", "year": 2026, "tags": ["birthday", "friends"]])
    }

    @Test func missingFileIsReportedWithItsPath() {
        #expect {
            _ = try WorkflowParser().parse(fileAt: "/nonexistent/flow.yaml")
        } throws: { error in
            (error as? WorkflowValidationError)?.description.hasPrefix("/nonexistent/flow.yaml:1:1: error: no such workflow file") == true
        }
    }

    /// A file that is not UTF-8 is named with the line and column of its first bad byte; a
    /// folder is called a folder (not "NSCocoaErrorDomain error 256").
    @Test func unreadableTextIsReportedWhereItIs() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("wflo-utf8-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("latin1.yaml")
        try Data("name: caf".utf8 + [0xE9] + Data("\nsteps: []\n".utf8)).write(to: file)
        let bad = try #require(diagnostics(fileAt: file.path))
        #expect(bad.hasPrefix("\(file.path):1:10: error: the workflow file is not UTF-8 text (byte 0xE9"), "\(bad)")
        let second = folder.appendingPathComponent("later.yaml")
        try Data("name: é\nsteps:\n  - id: ".utf8 + [0xFF, 0x41]).write(to: second)
        #expect(try #require(diagnostics(fileAt: second.path)).hasPrefix("\(second.path):3:9: error: the workflow file is not UTF-8"))
        let isFolder = try #require(diagnostics(fileAt: folder.path))
        #expect(isFolder.hasPrefix("\(folder.path):1:1: error: this is a folder, not a workflow file"), "\(isFolder)")
    }

    private func diagnostics(fileAt path: String) -> String? {
        do {
            _ = try WorkflowParser().parse(fileAt: path)
            return nil
        } catch {
            return error.description
        }
    }
}
