import Foundation
import WfloCore
@testable import WfloPricing

/// The repository root, found from this file's path.
let repositoryRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The shipped table, loaded once for the whole suite.
let shippedTable: PricingTable = {
    let path = repositoryRoot.appendingPathComponent("pricing").appendingPathComponent(PricingTable.shippedFileName).path
    do { return try PricingTable.read(path: path) } catch { fatalError("cannot load the shipped table: \(error)") }
}()

/// A small table written in the test, LiteLLM format.
func table(_ text: String, source: String = "test table") throws -> PricingTable {
    try PricingTable(json: JSONValue.parse(text), source: source)
}

func money(_ text: String) -> Money { Money(string: text)! }

/// A fresh temporary folder for files a test writes.
func temporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("wflo-pricing-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A deterministic random generator (SplitMix64), so property tests are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
