import Testing
import WfloCore
import WfloDSL

/// `wflo validate` refuses what the run would refuse: a for_each over an input's default array
/// longer than ForEachSettings.maximumItems (the run applies the same rule to the rendered items).
struct ForEachLimitTests {
    func workflow(items: Int) -> String {
        """
        name: big
        inputs:
          xs: {type: array, default: [\(Array(repeating: "0", count: items).joined(separator: ","))]}
        steps:
          - id: each
            type: transform
            for_each: {items: "{{inputs.xs}}", item_var: x}
            output: "{{for_each.x}}"
        """
    }

    @Test func aDefaultAtTheLimitIsValid() {
        #expect(diagnostics(workflow(items: ForEachSettings.maximumItems)).isEmpty)
    }

    @Test func aDefaultPastTheLimitIsRefusedWithTheRunsMessage() throws {
        let found = diagnostics(workflow(items: ForEachSettings.maximumItems + 1))
        let problem = try #require(ForEachSettings.itemCountProblem(ForEachSettings.maximumItems + 1))
        #expect(found.map(\.message) == ["step 'each': \(problem); the items are the default of input 'xs'"])
        #expect(found.first?.location.line == 5)
        #expect(ForEachSettings.itemCountProblem(ForEachSettings.maximumItems) == nil)
    }
}
