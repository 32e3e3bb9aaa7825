import ArgumentParser
import Foundation
import WfloApp
import WfloCore

/// `--db PATH|URL`, shared by every command that reads or writes the journal.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: "The journal: a SQLite file, or postgres://USER[:PASS]@HOST:PORT/DB for a PostgreSQL server shared by workers. Default: $WFLO_DB, else ~/.wflo/wflo.db.")
    var db: String?

    var location: JournalLocation { .resolve(option: db, environment: ProcessInfo.processInfo.environment) }

    /// Whether there is a journal to read (a command that only reads must not create a SQLite file).
    var exists: Bool { location.exists }

    /// Opens the journal. Only commands that start runs create a missing SQLite file
    /// (`creating: true`); every other command says that there is none, and leaves no file or
    /// folder behind. A PostgreSQL journal gets its schema on first use.
    func open(creating: Bool = false) async throws -> any JournalStore {
        do {
            return try await location.open(creating: creating)
        } catch let error as AppError where error.code == .notFound {
            throw CLIError(error.message, exitCode: 2)
        }
    }

    /// Opens the journal for `body` and closes it after (a PostgreSQL pool is shut down).
    func withJournal<T>(creating: Bool = false, _ body: (any JournalStore) async throws -> T) async throws -> T {
        let journal = try await open(creating: creating)
        do {
            let result = try await body(journal)
            await journal.close()
            return result
        } catch {
            await journal.close()
            throw error
        }
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
