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
