import Foundation
import Testing
import WfloReports

struct ReportSinceTests {
    static let now = Date.testNow

    static let accepted: [(String, Double)] = [
        ("30m", 1_793_705_400),
        ("12h", 1_793_664_000),
        ("7d", 1_793_102_400),
        ("2w", 1_792_497_600),
        (" 1D ", 1_793_620_800),
        ("2026-11-01", 1_793_491_200),
        ("2024-02-29", 1_709_164_800),
        ("2026-11-01T08:30:00Z", 1_793_521_800),
    ]

    @Test(arguments: accepted)
    func acceptsDurationsAndUTCDates(text: String, expected: Double) throws {
        #expect(try ReportSince.parse(text, now: Self.now).timeIntervalSince1970 == expected)
    }

    @Test(arguments: ["", "7", "d", "7x", "-7d", "0d", "7 d", "1.5h", "2026-13-01", "2025-02-29", "2026-1-01", "yesterday", "99999999999d"])
    func refusesAnythingElseNamingTheFlagAndTheForms(text: String) {
        do {
            _ = try ReportSince.parse(text, now: Self.now)
            Issue.record("'\(text)' was accepted")
        } catch let error as ReportError {
            #expect(error.code == .invalidSince)
            #expect(error.message.hasPrefix("--since '\(text)'"))
            #expect(error.message.contains("7d"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func groupingNamesTheFlagWhenUnknown() throws {
        #expect(try SpendReport.Grouping.parse("Model") == .model)
        let error = #expect(throws: ReportError.self) { try SpendReport.Grouping.parse("colour") }
        #expect(error?.message == "--by 'colour' is not a grouping; write --by model, workflow, day, step or scope")
    }
}
