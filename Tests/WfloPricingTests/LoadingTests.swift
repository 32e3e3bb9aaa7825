import Foundation
import Testing
import WfloCore
@testable import WfloPricing

@Suite struct LoadingTests {
    static func write(_ text: String, to folder: URL, _ name: String) throws -> String {
        let url = folder.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url.path
    }

    @Test func layersShippedTableThenEnvironmentFilesThenOverlaysInOrder() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let shipped = try Self.write(#"{"sample_spec": {"input_cost_per_token": "see docs"}, "a": {"input_cost_per_token": 1e-06}}"#, to: folder, "table.json")
        let env1 = try Self.write(#"{"a": {"input_cost_per_token": 2e-06}, "b": {"input_cost_per_token": 1e-06}}"#, to: folder, "env1.json")
        let env2 = try Self.write(#"{"b": {"input_cost_per_token": 3e-06}}"#, to: folder, "env2.json")
        let flag = try Self.write(#"{"c": {"input_cost_per_token": 4e-06}, "a": {"output_cost_per_token": 0}}"#, to: folder, "flag.json")
        let t = try PricingTable.load(overlays: [flag], environment: ["WFLO_PRICING_TABLE": shipped, "WFLO_PRICING": "\(env1):\(env2)"])
        #expect(t.sources == [shipped, env1, env2, flag])
        #expect(try t.price(for: "a").inputCostPerToken == money("0.000002"))
        #expect(try t.price(for: "a").outputCostPerToken == .zero)
        #expect(try t.price(for: "b").inputCostPerToken == money("0.000003"))
        #expect(try t.price(for: "c").source == flag)
    }

    @Test func findsTheShippedTableAboveTheCurrentFolder() throws {
        let start = repositoryRoot.appendingPathComponent("Sources/WfloPricing")
        let found = PricingTable.findUpwards(from: start)
        #expect(found == repositoryRoot.appendingPathComponent("pricing/model_prices_and_context_window.json").standardizedFileURL.path)
        #expect(PricingTable.locateShippedTable(currentDirectory: start.path) != nil)
    }

    @Test func loadWithoutEnvironmentFindsTheRepositoryTable() throws {
        // The test binary lives in the scratch folder inside the repository, like .build/debug/wflo.
        let t = try PricingTable.load(environment: [:])
        #expect(t.count == shippedTable.count)
    }

    @Test(arguments: ["missing.json", "broken.json"])
    func unreadableOverlayNamesTheFile(name: String) throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let shipped = try Self.write(#"{"a": {"input_cost_per_token": 1e-06}}"#, to: folder, "table.json")
        _ = try Self.write(#"{"a": "#, to: folder, "broken.json")
        let path = folder.appendingPathComponent(name).path
        do {
            _ = try PricingTable.load(overlays: [path], environment: ["WFLO_PRICING_TABLE": shipped])
            Issue.record("expected an error")
        } catch let error as PricingError {
            #expect(error.code == .unreadableTable)
            #expect(error.message.contains(path))
        }
    }
}
