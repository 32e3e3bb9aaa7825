import ArgumentParser
import Foundation
import WfloCore
import WfloStore

/// `--db PATH`, shared by every command that reads or writes the journal.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: "The journal (SQLite file). Default: $WFLO_DB, else ~/.wflo/wflo.db.")
    var db: String?

    var path: String { db ?? SQLiteJournalStore.defaultPath(environment: ProcessInfo.processInfo.environment) }

    /// Whether the journal file exists (a command that only reads must not create one).
    var exists: Bool { FileManager.default.fileExists(atPath: path) }

    /// Opens the journal. Only `wflo run` creates a missing one (`creating: true`); every other
    /// command says that there is none, and leaves no file or folder behind.
    func open(creating: Bool = false) throws -> SQLiteJournalStore {
        if !creating && !exists {
            throw CLIError("no journal at \(path): no run has been started with it yet (wflo run FILE starts one; --db or WFLO_DB name another journal)",
                           exitCode: 2)
        }
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
        guard let money = Money(string: digits) else {
            throw CLIError("--budget '\(text)' is not an amount of USD (write --budget 0.50)", exitCode: 2)
        }
        if money.isNegative {
            throw CLIError("--budget \(text): a budget must be 0 or more USD (write --budget 0.50, or --no-budget for no limit)", exitCode: 2)
        }
        return money
    }
}
