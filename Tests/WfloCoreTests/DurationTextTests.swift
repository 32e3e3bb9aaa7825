import Foundation
import Testing
import WfloCore

/// The one duration parser: every caller turns its result into milliseconds or nanoseconds, so
/// what it accepts must stay inside the integers' range.
struct DurationTextTests {
    @Test(arguments: [("1.5", 1.5), ("500ms", 0.5), ("2s", 2), ("1m", 60), ("1h", 3600), ("7d", 604_800), ("36500d", 3_153_600_000)])
    func readsNumbersAndUnits(text: String, seconds: Double) {
        #expect(DurationText.seconds(text) == seconds)
    }

    @Test(arguments: ["-1", "-1s", "40000d", "1e30", "99999999999999999999s", "inf", "nan", "1x", ""])
    func refusesNegativeHugeAndMalformedDurations(text: String) {
        #expect(DurationText.seconds(text) == nil)
    }
}

/// Reading nested journal ids: the one place reports take them apart.
struct NestedStepIDTests {
    @Test func readsAncestorsRootsAndTheWrittenForm() {
        let id = ForEachSettings.itemID(SubWorkflowStepDefinition.childID(ForEachSettings.itemID("batch", 2), "pages"), 10) + "/read"
        #expect(id == "batch[2]/pages[10]/read")
        #expect(NestedStepID.ancestors(of: id) == ["batch", "batch[2]", "batch[2]/pages", "batch[2]/pages[10]"])
        #expect(NestedStepID.root(of: id) == "batch")
        #expect(NestedStepID.asWritten(id) == "batch[]/pages[]/read")
        #expect(NestedStepID.asWritten("step2") == "step2")
        #expect(NestedStepID.ancestors(of: "plain").isEmpty)
        let sorted = ["x[10]", "x[2]/a", "x[2]"].sorted { NestedStepID.sortKey($0).lexicographicallyPrecedes(NestedStepID.sortKey($1)) }
        #expect(sorted == ["x[2]", "x[2]/a", "x[10]"])
    }

    /// A step's time on the progress line and in reports is written without a formatter per line;
    /// it must read as `%.2f` wrote it.
    @Test func twoDecimalsReadAsPrintfWritesThem() {
        var generator = SystemRandomNumberGenerator()
        var values: [Double] = [0, 0.004, 0.005, 0.015, 0.125, 0.995, 1, 1.005, 9.999, 59.995, 100, 12345.678]
        for _ in 0..<20_000 {
            let scale = [1.0, 10, 1000].randomElement(using: &generator)!
            values.append(Double(UInt64.random(in: 0..<1_000_000_000, using: &generator)) / 1_000_000_000 * scale)
        }
        let wrong = values.filter { DurationText.twoDecimals($0) != String(format: "%.2f", $0) }
        #expect(wrong.isEmpty, "\(wrong.prefix(5).map { "\($0): \(DurationText.twoDecimals($0)) vs \(String(format: "%.2f", $0))" })")
    }
}
