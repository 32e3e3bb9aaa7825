import Foundation
import Logging
import NIOSSL
import PostgresNIO
import Synchronization
import WfloCore

/// Opens single connections to the journal's server (the first one, which migrates, and the
/// listener's), with the pool's settings: TLS per `sslmode`, the schema as `search_path`.
struct Connector: Sendable {
    let url: PostgresURL
    let schema: String?
    let logger: Logger
    let clientTLS: PostgresClient.Configuration.TLS
    private let connectionTLS: PostgresConnection.Configuration.TLS
    private static let ids = Atomic<Int>(0)

    init(url: PostgresURL, schema: String?, logger: Logger) throws {
        self.url = url
        self.schema = schema
        self.logger = logger
        switch url.tls {
        case .disable:
            clientTLS = .disable
            connectionTLS = .disable
        case .prefer, .require, .verifyFull:
            var tls = TLSConfiguration.makeClientConfiguration()
            // libpq's prefer and require encrypt without verifying; verify-full verifies.
            if url.tls != .verifyFull { tls.certificateVerification = .none }
            let context: NIOSSLContext
            do {
                context = try NIOSSLContext(configuration: tls)
            } catch {
                throw StoreError(.database, "cannot set up TLS for \(url.redacted): \(error); add ?sslmode=disable to the URL on a trusted network")
            }
            clientTLS = url.tls == .prefer ? .prefer(tls) : .require(tls)
            connectionTLS = url.tls == .prefer ? .prefer(context) : .require(context)
        }
    }

    /// What every connection sends at startup: the schema as its `search_path`, a name in
    /// `pg_stat_activity`, and generic plans for its statements.
    ///
    /// The journal's statements find their rows by key (a run's id, a queue's name), so their plan
    /// does not depend on the values bound: PostgreSQL itself keeps the generic plan of every hot
    /// statement (``Hot``) after its first five executions, each of which it otherwise plans anew
    /// with the values. A worker opens up to a pool's worth of connections as it starts, each
    /// preparing its statements: those first plans were 5% of the machine in a four-worker round
    /// of the queue benchmark (`perf`: `pg_plan_query`), and the round 0.87x as long without them.
    var startupParameters: [(String, String)] {
        var parameters = [("application_name", "wflo"), ("plan_cache_mode", "force_generic_plan")]
        if let schema { parameters.append(("search_path", schema)) }
        return parameters
    }

    /// One connection, or a ``StoreError`` naming the server and what to do.
    func connect() async throws -> PostgresConnection {
        var configuration = PostgresConnection.Configuration(host: url.host, port: url.port, username: url.user, password: url.password,
                                                             database: url.database, tls: connectionTLS)
        configuration.options.additionalStartupParameters = startupParameters
        do {
            return try await PostgresConnection.connect(configuration: configuration,
                                                        id: Connector.ids.wrappingAdd(1, ordering: .relaxed).newValue, logger: logger)
        } catch {
            throw PostgresErrors.connectError(error, url: url)
        }
    }
}

/// PostgreSQL's errors as ``StoreError``s: codes a caller can act on, messages naming the
/// server and what happened (the server's own message, never a driver dump or a password).
enum PostgresErrors {
    static func sqlState(_ error: any Error) -> String? { (error as? PSQLError)?.serverInfo?[.sqlState] }

    /// A serialization failure or a deadlock: the server rolled the transaction back, trying it again may work.
    static func isRetryable(_ error: any Error) -> Bool {
        guard let state = sqlState(error) else { return false }
        return state == "40001" || state == "40P01"
    }

    /// What went wrong, in a sentence: the server's message and SQLSTATE, or the connection's trouble.
    static func describe(_ error: any Error) -> String {
        if let error = error as? StoreError { return error.message }
        guard let psql = error as? PSQLError else { return "\(error)" }
        if let info = psql.serverInfo, let message = info[.message] {
            var text = message
            if let detail = info[.detail] { text += " (\(detail))" }
            if let state = info[.sqlState] { text += " [SQLSTATE \(state)]" }
            return text
        }
        switch psql.code {
        case .connectionError: return "the connection failed" + (psql.underlying.map { ": \($0)" } ?? "")
        case .serverClosedConnection: return "the server closed the connection" + (psql.underlying.map { ": \($0)" } ?? "")
        case .clientClosedConnection, .poolClosed: return "the store's connections were closed"
        case .uncleanShutdown: return "the connection was cut off"
        default: return psql.code.description + (psql.underlying.map { ": \($0)" } ?? "")
        }
    }

    /// `error` of a query as a ``StoreError``: a broken constraint is `.conflict`, a transaction
    /// the server still aborted after the retries (serialization, deadlock, lock not available)
    /// `.busy`, anything else `.database`; the driver's error is kept as the cause.
    static func storeError(_ error: any Error, location: String, doing: String) -> StoreError {
        if let error = error as? StoreError { return error }
        let what = describe(error)
        if let state = sqlState(error) {
            if state.hasPrefix("23") {
                return StoreError(.conflict, "the journal at \(location) could not be \(doing): \(what)", underlying: error)
            }
            if state == "40001" || state == "40P01" || state == "55P03" {
                return StoreError(.busy, "the journal at \(location) could not be \(doing): other writers kept conflicting (\(what)); try again",
                                  underlying: error)
            }
            return StoreError(.database, "the journal at \(location) could not be \(doing): \(what)", underlying: error)
        }
        if error is PSQLError {
            return StoreError(.database, "the journal at \(location) could not be \(doing): \(what); is the PostgreSQL server still reachable?",
                              underlying: error)
        }
        return StoreError(.database, "the journal at \(location) could not be \(doing): cannot reach PostgreSQL (\(what))", underlying: error)
    }

    /// The error of opening a connection to `url`'s server.
    static func connectError(_ error: any Error, url: PostgresURL) -> StoreError {
        let server = "\(url.host):\(url.port)"
        let what = describe(error)
        switch sqlState(error) {
        case "28P01", "28000":
            return StoreError(.database, "PostgreSQL at \(server) refused user '\(url.user)': \(what); check the user and password in the URL",
                              underlying: error)
        case "3D000":
            return StoreError(.database, "PostgreSQL at \(server) has no database '\(url.database)'; create it (createdb -h \(url.host) -p \(url.port) \(url.database)) or fix the URL",
                              underlying: error)
        case "57P03", "53300":
            return StoreError(.database, "PostgreSQL at \(server) cannot take the connection now: \(what); try again", underlying: error)
        default:
            break
        }
        if let psql = error as? PSQLError, psql.code == .authMechanismRequiresPassword {
            return StoreError(.database, "PostgreSQL at \(server) asks for a password for user '\(url.user)' and the URL has none; write it as postgres://USER:PASS@HOST:PORT/DB",
                              underlying: error)
        }
        if let psql = error as? PSQLError, psql.code == .sslUnsupported {
            return StoreError(.database, "PostgreSQL at \(server) does not offer TLS and the URL's sslmode requires it (sslmode=prefer falls back to a plain connection)", underlying: error)
        }
        return StoreError(.database, "cannot connect to PostgreSQL at \(server): \(what); is the server running and listening there?",
                          underlying: error)
    }
}
