import ArgumentParser
import Foundation
import WfloCore
import WfloStore

/// `--db PATH`, shared by every command that reads or writes the journal.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: "The journal (SQLite file). Default: $WFLO_DB, else ~/.wflo/wflo.db.")
    var db: String?

    func open() throws -> SQLiteJournalStore {
        let path = db ?? SQLiteJournalStore.defaultPath(environment: ProcessInfo.processInfo.environment)
        return try SQLiteJournalStore(path: path)
    }
}

/// `--record FILE` / `--replay FILE`.
struct CassetteOptions: ParsableArguments {
    @Option(name: .long, help: "Write every LLM and http-step exchange of the run to this cassette file (secrets masked).")
    var record: String?

    @Option(name: .long, help: "Serve LLM and http-step exchanges from this cassette file; no network, recorded usage charged at table prices.")
    var replay: String?

    func validate() throws {
        if record != nil && replay != nil {
            throw ValidationError("--record and --replay cannot be used together")
        }
    }
}

/// `--pricing FILE` (repeatable).
struct PricingOptions: ParsableArguments {
    @Option(name: .customLong("pricing"), help: "A pricing file in LiteLLM's format that adds or overrides models (repeatable).")
    var files: [String] = []
}

/// Reads a `--budget` value: an amount of USD, `$` allowed in front.
enum BudgetArgument {
    static func parse(_ text: String) throws -> Money {
        let digits = text.hasPrefix("$") ? String(text.dropFirst()) : text
        guard let money = Money(string: digits), !money.isNegative else {
            throw CLIError("--budget '\(text)' is not an amount of USD (write --budget 0.50)", exitCode: 2)
        }
        return money
    }
}
