import Foundation
import WfloCore

/// Where a PostgreSQL journal lives: `postgres://USER[:PASS]@HOST[:PORT]/DB` (or `postgresql://`),
/// with an optional `?sslmode=` as libpq reads it: `disable`; `prefer` (the default: TLS when the
/// server offers it); `require` (TLS or no connection); `verify-full` (TLS with the server's
/// certificate and host name verified). Like libpq, `prefer` and `require` do not verify the certificate.
public struct PostgresURL: Sendable, Hashable {
    public enum TLSMode: String, Sendable, Hashable {
        case disable, prefer, require
        case verifyFull = "verify-full"
    }

    public var user: String
    public var password: String?
    public var host: String
    public var port: Int
    public var database: String
    public var tls: TLSMode

    /// What every URL error shows.
    public static let expectedForm = "postgres://USER[:PASS]@HOST:PORT/DB"

    /// Whether `text` names a PostgreSQL journal (its scheme), rather than a SQLite file.
    public static func isPostgres(_ text: String) -> Bool {
        let lower = text.lowercased()
        return lower.hasPrefix("postgres://") || lower.hasPrefix("postgresql://")
    }

    /// Parses `text`.
    /// - Throws: ``StoreError`` `.database` saying what is wrong and showing the expected form; the
    ///   password, if any, is never repeated.
    public init(parsing text: String) throws {
        let shown = PostgresURL.redacting(text)
        func failure(_ problem: String) -> StoreError {
            StoreError(.database, "'\(shown)' is not a PostgreSQL URL: \(problem); expected \(PostgresURL.expectedForm)")
        }
        guard PostgresURL.isPostgres(text) else { throw failure("it must start with postgres:// or postgresql://") }
        // The port as written (URLComponents refuses "host:abc" and ignores "host:").
        if let portText = PostgresURL.portText(text) {
            guard let port = Int(portText) else {
                throw failure(portText.isEmpty ? "a ':' with no port after the host" : "port '\(portText)' is not a number")
            }
            guard (1...65535).contains(port) else { throw failure("port \(port) is out of range (1-65535)") }
        }
        guard let components = URLComponents(string: text) else { throw failure("it does not parse as a URL (are special characters in the password percent-encoded?)") }
        guard let user = components.user, !user.isEmpty else { throw failure("no user name (USER@ before the host)") }
        guard let host = components.host, !host.isEmpty else { throw failure("no host") }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        guard !path.isEmpty else { throw failure("no database name (/DB after the host)") }
        guard !path.contains("/") else { throw failure("the database name '\(path)' contains '/'") }
        var tls = TLSMode.prefer
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let value = item.value.flatMap(TLSMode.init(rawValue:)) else {
                    throw failure("sslmode must be disable, prefer, require or verify-full, not '\(item.value ?? "")'")
                }
                tls = value
            default:
                throw failure("unknown parameter '\(item.name)' (only sslmode is understood)")
            }
        }
        self.user = user
        self.password = components.password
        self.host = host
        self.port = components.port ?? 5432
        self.database = path
        self.tls = tls
    }

    /// The text after the host's ':' (nil when there is none), from the URL as written.
    static func portText(_ text: String) -> String? {
        guard let scheme = text.range(of: "://") else { return nil }
        let rest = text[scheme.upperBound...]
        let authority = rest[..<(rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex)]
        let hostPort = authority[(authority.lastIndex(of: "@").map(authority.index(after:)) ?? authority.startIndex)...]
        if hostPort.hasPrefix("["), let close = hostPort.firstIndex(of: "]") {
            let after = hostPort[hostPort.index(after: close)...]
            return after.hasPrefix(":") ? String(after.dropFirst()) : nil
        }
        return hostPort.lastIndex(of: ":").map { String(hostPort[hostPort.index(after: $0)...]) }
    }

    /// The URL without the password: what messages and ``PostgresJournalStore/journalLocation`` show.
    public var redacted: String { "postgres://\(user)@\(host):\(port)/\(database)" }

    /// `text` with the password of its user part (if any) replaced by `***`, for messages about
    /// a URL that may not parse.
    public static func redacting(_ text: String) -> String {
        guard let scheme = text.range(of: "://"), let at = text[scheme.upperBound...].lastIndex(of: "@") else { return text }
        let userInfo = text[scheme.upperBound..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return text }
        return String(text[..<colon]) + ":***" + String(text[at...])
    }
}
