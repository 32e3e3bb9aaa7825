import Testing
@testable import WfloDSL

/// A step whose `depends_on` and `{{steps.…}}` references name only steps read before it is
/// resolved while it is read, and its templates dropped then (a 100,000-step chain kept them
/// all until the end: 13 MB); a step naming a later one, or an input, is resolved at the end.
struct StepResolutionTests {
    static let yaml = """
    name: w
    steps:
      - id: a
        type: transform
        output: {n: 0}
      - id: b
        type: transform
        depends_on: a
        output: {prev: "{{steps.a.output.n}}"}
      - id: ahead
        type: transform
        output: {later: "{{steps.c.output.n}}"}
      - id: c
        type: transform
        output: {n: "{{steps.b.output.prev}}", x: "{{steps.a.output.n}}"}
      - id: asks
        type: transform
        output: {topic: "{{inputs.topic}}"}
    inputs:
      topic: {type: string}
    """

    /// The drafts as the file's composer leaves them, before the end of the file is read.
    static func draftsAsRead(_ text: String) throws -> (drafts: [StepDraft], targets: [Int]) {
        var reader = DefinitionReader(file: "w.yaml", source: SourceText(text), modelCheck: nil)
        reader.steps = DefinitionReader.StepsReading(defersModelChecks: true)
        _ = try YAMLValue.compose(text, file: "w.yaml", step: { reader.readStepItem($0) })
        let list = try #require(reader.steps)
        return (list.drafts, list.waitTargets)
    }

    @Test func stepsNamingOnlyEarlierStepsAreResolvedWhileRead() throws {
        let (drafts, targets) = try Self.draftsAsRead(Self.yaml)
        #expect(drafts.map(\.id) == ["a", "b", "ahead", "c", "asks"])
        let waits = drafts.map { draft in draft.waits.map { Array(targets[$0]) } }
        // b waits for a (position 0); c for b and a, in the order it names them.
        #expect(waits[0] == [] && waits[1] == [0] && waits[3] == [1, 0], "\(waits)")
        #expect(drafts[0].templates.isEmpty && drafts[1].templates.isEmpty && drafts[3].templates.isEmpty)
        #expect(drafts[1].dependsOn.isEmpty)
        // A later step and an input (declared after the steps) are not known yet.
        #expect(waits[2] == nil && drafts[2].templates.count == 1)
        #expect(waits[4] == nil && drafts[4].templates.count == 1)
    }

    @Test func theWholeFileReadsTheSameWhicheverWayItsStepsWereResolved() throws {
        let definition = try WorkflowParser().parse(yaml: Self.yaml, file: "w.yaml")
        #expect(definition.steps.map(\.id) == ["a", "b", "ahead", "c", "asks"])
        #expect(definition.steps[1].dependsOn == ["a"])
        // A mistake in a step resolved while read is still reported, at its place.
        let wrong = Self.yaml.replacingOccurrences(of: "{{steps.a.output.n}}\"}\n  - id: ahead", with: "{{steps.b.output.n}}\"}\n  - id: ahead")
        #expect(wrong != Self.yaml)
        do {
            _ = try WorkflowParser().parse(yaml: wrong, file: "w.yaml")
            Issue.record("a step using its own output was read as valid")
        } catch {
            #expect(error.diagnostics.map(\.message) == ["{{steps.b.output.n}}: step 'b' cannot use its own output"])
            #expect(error.diagnostics.first?.location.line == 9)
        }
    }
}
