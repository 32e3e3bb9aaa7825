import Foundation
import Testing
import WfloCore

/// ``StepDefinition`` keeps the fields most steps leave unset in one shared box (a 100,000-step
/// workflow's steps were 224 bytes each). It must still read, write, compare and encode as a
/// struct of plain fields: definitions built in Swift are journaled as this JSON.
struct StepDefinitionStorageTests {
    static func full() throws -> StepDefinition {
        StepDefinition(id: "s", dependsOn: ["a", "b"], retry: RetryPolicy(maximumAttempts: 3), timeout: 2.5,
                       kind: .transform(TransformStepDefinition(output: .template(try Template("{{steps.a.output}}")))),
                       approval: ApprovalSettings(approvers: ["ana"], timeout: 60), risk: .high,
                       condition: try Condition("{{steps.a.output.n}} > 1"),
                       forEach: ForEachSettings(items: try Template("{{inputs.list}}"), maxParallel: 4),
                       allowFailure: true, location: SourceLocation(file: "w.yaml", line: 3, column: 5))
    }

    static func json(_ step: StepDefinition, sorted: Bool = true) throws -> String {
        let encoder = JSONEncoder()
        if sorted { encoder.outputFormatting = [.sortedKeys] }
        return String(decoding: try encoder.encode(step), as: UTF8.self)
    }

    @Test func aStepIsSmall() {
        #expect(MemoryLayout<StepDefinition>.size <= 88)
    }

    /// Written by the struct before the box (each field stored on its own, synthesized coding).
    static let fullJSON = #"{"allowFailure":true,"approval":{"approvers":["ana"],"onTimeout":"reject","timeout":60},"condition":{"root":{"compare":{"_0":{"reference":{"_0":["steps","a","output","n"]}},"_1":">","_2":{"literal":{"_0":1}}}},"source":"{{steps.a.output.n}} > 1"},"dependsOn":["a","b"],"forEach":{"failFast":true,"itemVar":"item","items":{"segments":[{"reference":{"offset":0,"path":["inputs","list"]}}],"source":"{{inputs.list}}"},"maxParallel":4},"id":"s","kind":{"transform":{"_0":{"output":{"template":{"_0":{"segments":[{"reference":{"offset":0,"path":["steps","a","output"]}}],"source":"{{steps.a.output}}"}}}}}},"location":{"column":5,"file":"w.yaml","line":3},"retry":{"backoffCoefficient":2,"initialInterval":1,"maximumAttempts":3,"maximumInterval":30,"nonRetryableErrors":[]},"risk":"high","timeout":2.5}"#
    static let minimalJSON = #"{"allowFailure":false,"dependsOn":[],"id":"m","kind":{"transform":{"_0":{"output":{"literal":{"_0":1}}}}}}"#
    static let minimal = StepDefinition(id: "m", kind: .transform(TransformStepDefinition(output: .literal(.int(1)))))

    @Test func everyFieldEncodesAndDecodesAsWhenEachWasStoredOnItsOwn() throws {
        #expect(try Self.json(Self.full()) == Self.fullJSON)
        #expect(try Self.json(Self.minimal) == Self.minimalJSON)
        let decoder = JSONDecoder()
        #expect(try decoder.decode(StepDefinition.self, from: Data(Self.fullJSON.utf8)) == Self.full())
        #expect(try decoder.decode(StepDefinition.self, from: Data(Self.minimalJSON.utf8)) == Self.minimal)
    }

    @Test func theBoxedFieldsReadAndWriteLikePlainOnes() throws {
        let full = try Self.full()
        var step = Self.minimal
        step.id = "s"
        step.dependsOn = ["a", "b"]
        step.kind = full.kind
        step.timeout = 2.5
        step.risk = .high
        step.allowFailure = true
        step.location = full.location
        let copy = step
        step.retry = full.retry
        step.approval = full.approval
        step.condition = full.condition
        step.forEach = full.forEach
        #expect(step == full)
        #expect(step.hashValue == full.hashValue)
        // A copy taken before the writes keeps its own (unset) fields.
        #expect(copy.retry == nil && copy.approval == nil && copy.condition == nil && copy.forEach == nil)
        #expect(copy != full)
        // In place, through a key path, and back to unset.
        step.forEach?.maxParallel = 9
        #expect(step.forEach?.maxParallel == 9 && full.forEach?.maxParallel == 4)
        step[keyPath: \.approval] = nil
        #expect(step.approval == nil && step.retry == full.retry && step.condition == full.condition)
        step.retry = nil
        step.condition = nil
        step.forEach = nil
        var unset = copy
        unset.risk = .high
        #expect(step == unset)
        #expect(try Self.json(step) == Self.json(unset))
    }
}
