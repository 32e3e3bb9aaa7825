import Foundation
import WfloCore
import WfloPostgres
import WfloStore

/// Where the journal lives, as `--db` or `WFLO_DB` say: a PostgreSQL server
/// (`postgres://USER[:PASS]@HOST:PORT/DB`, or `postgresql://`) shared by many processes and
/// machines, or a SQLite file (the embedded default, `~/.wflo/wflo.db`). Every front end opens
/// the journal through this, so a command works the same on both.
public enum JournalLocation: Sendable, Hashable, CustomStringConvertible {
    case sqlite(path: String)
    case postgres(url: String)

    /// `option` (`--db`) when given, else `WFLO_DB`, else `~/.wflo/wflo.db`.
    public static func resolve(option: String?, environment: [String: String]) -> JournalLocation {
        let text = option ?? environment["WFLO_DB"].flatMap { $0.isEmpty ? nil : $0 }
        guard let text else { return .sqlite(path: SQLiteJournalStore.defaultPath(environment: environment)) }
        return parse(text)
    }

    /// A URL with a PostgreSQL scheme is a server; anything else is a SQLite path.
    public static func parse(_ text: String) -> JournalLocation {
        let lower = text.lowercased()
        if lower.hasPrefix("postgres://") || lower.hasPrefix("postgresql://") { return .postgres(url: text) }
        return .sqlite(path: text)
    }

    /// Whether there is a journal to read: a SQLite file exists; a server is asked when opened
    /// (its schema is created on first use).
    public var exists: Bool {
        switch self {
        case .sqlite(let path): FileManager.default.fileExists(atPath: path)
        case .postgres: true
        }
    }

    /// For messages: the path, or the URL without its password.
    public var description: String {
        switch self {
        case .sqlite(let path): path
        case .postgres(let url): Self.maskingPassword(url)
        }
    }

    /// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
    static func maskingPassword(_ url: String) -> String {
        guard let scheme = url.range(of: "://"), let at = url.range(of: "@", range: scheme.upperBound..<url.endIndex),
              let colon = url.range(of: ":", range: scheme.upperBound..<at.lowerBound) else { return url }
        return url.replacingCharacters(in: colon.upperBound..<at.lowerBound, with: "***")
    }

    /// Opens the journal, bringing its schema up to date.
    /// - Parameter creating: whether a missing SQLite file is created (only commands that start
    ///   runs create one; the others say there is none and leave nothing behind).
    /// - Throws: ``AppError`` `.notFound` for a missing SQLite file when not `creating`; the
    ///   store's error (naming the journal) when it cannot be opened.
    public func open(creating: Bool) async throws -> any JournalStore {
        switch self {
        case .sqlite(let path):
            if !creating && !exists {
                throw AppError(.notFound, "no journal at \(path): no run has been started with it yet (wflo run FILE starts one; --db or WFLO_DB name another journal)")
            }
            return try SQLiteJournalStore(path: path)
        case .postgres(let url):
            return try await JournalLocation.openPostgres(url)
        }
    }
}

extension JournalLocation {
    /// Connects (migrating on first use); the URL's problems, a server that is not there and a
    /// journal newer than this wflo are the store's errors, naming the server.
    static func openPostgres(_ url: String) async throws -> any JournalStore {
        try await PostgresJournalStore.connect(url: url)
    }
}
