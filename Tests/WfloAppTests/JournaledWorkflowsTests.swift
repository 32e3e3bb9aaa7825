import Foundation
import Synchronization
import Testing
@testable import WfloApp
import WfloCore
import WfloDSL
import WfloPricing

/// A worker parses each journaled workflow once, unless its parse read a file from the disk.
@Suite(.timeLimit(.minutes(1)))
struct JournaledWorkflowsTests {
    final class Parses: Sendable {
        let count = Mutex(0)
    }

    static func parse(_ source: String, path: String, children: [String: String], counting parses: Parses) throws -> WorkflowDefinition {
        parses.count.withLock { $0 += 1 }
        return try WorkflowLoader.parse(source: source, file: path, pricing: try PricingTable(json: [:], source: "empty table"),
                                        sources: WorkflowSources(journaled: children))
    }

    @Test func aWorkflowIsParsedOncePerSourceAndItsSubWorkflowsSources() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("wflo-parsed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let parent = folder.appendingPathComponent("parent.yaml").path
        let child = folder.appendingPathComponent("child.yaml").path
        let plain = "name: plain\nsteps:\n  - {id: t, type: transform, output: {x: 1}}\n"
        let nested = "name: parent\nsteps:\n  - {id: s, type: workflow, workflow: child.yaml}\n"
        let childText = "name: child\nsteps:\n  - {id: c, type: transform, output: {v: one}}\n"
        try childText.write(toFile: child, atomically: true, encoding: .utf8)

        let workflows = JournaledWorkflows()
        let parses = Parses()
        for _ in 0..<3 {
            let definition = try workflows.definition(source: plain, path: parent, children: [:]) {
                try Self.parse(plain, path: parent, children: [:], counting: parses)
            }
            #expect(definition.name == "plain")
        }
        #expect(parses.count.withLock { $0 } == 1, "three runs of one workflow: one parse")

        // Its sub-workflow journaled: kept, under the sub-workflow's text too.
        let journaled = [URL(fileURLWithPath: child).standardizedFileURL.resolvingSymlinksInPath().path: childText]
        for _ in 0..<2 {
            _ = try workflows.definition(source: nested, path: parent, children: journaled) {
                try Self.parse(nested, path: parent, children: journaled, counting: parses)
            }
        }
        #expect(parses.count.withLock { $0 } == 2)
        let changed = journaled.mapValues { $0.replacingOccurrences(of: "one", with: "two") }
        _ = try workflows.definition(source: nested, path: parent, children: changed) {
            try Self.parse(nested, path: parent, children: changed, counting: parses)
        }
        #expect(parses.count.withLock { $0 } == 3, "another sub-workflow text is another workflow")

        // Its sub-workflow read from the disk (a run journaled without it): parsed every time, as the file may change.
        for _ in 0..<2 {
            let definition = try workflows.definition(source: nested, path: parent, children: [:]) {
                try Self.parse(nested, path: parent, children: [:], counting: parses)
            }
            #expect(definition.subWorkflowSources.values.first == childText)
        }
        #expect(parses.count.withLock { $0 } == 5)

        // A workflow that does not parse is not kept either: the error comes each time.
        for _ in 0..<2 {
            #expect(throws: AppError.self) {
                try workflows.definition(source: "name: bad\nsteps: 3\n", path: parent, children: [:]) {
                    try Self.parse("name: bad\nsteps: 3\n", path: parent, children: [:], counting: parses)
                }
            }
        }
        #expect(parses.count.withLock { $0 } == 7)
    }

    @Test func itKeepsAtMostItsCapacity() throws {
        let workflows = JournaledWorkflows()
        let parses = Parses()
        let count = JournaledWorkflows.capacity * 3
        for index in 0..<count {
            let source = "name: w\(index)\nsteps:\n  - {id: t, type: transform, output: {v: x}}\n"
            _ = try workflows.definition(source: source, path: "w.yaml", children: [:]) {
                try Self.parse(source, path: "w.yaml", children: [:], counting: parses)
            }
        }
        #expect(workflows.count <= JournaledWorkflows.capacity)
        // The newest are still kept.
        let newest = "name: w\(count - 1)\nsteps:\n  - {id: t, type: transform, output: {v: x}}\n"
        _ = try workflows.definition(source: newest, path: "w.yaml", children: [:]) {
            try Self.parse(newest, path: "w.yaml", children: [:], counting: parses)
        }
        #expect(parses.count.withLock { $0 } == count)
    }
}
