import Foundation
import GRDB
import WfloCore

/// Circuit breakers per host (`circuits`), shared by every run and process using the journal.
/// Each method is one `BEGIN IMMEDIATE` transaction: the state is read and its successor written
/// under the write lock, so two processes cannot both be let through as the half-open probe.
extension SQLiteJournalStore {
    public func admitCircuit(host: String, settings: CircuitBreakerSettings, at: Date) async throws -> CircuitAdmission {
        try await write { db in
            guard let current = try circuit(db, host: host) else { return .allowed }
            let (next, admission) = current.admitting(at: at, settings: settings)
            if next != current { try CircuitRow.save(db, next) }
            return admission
        }
    }

    @discardableResult
    public func recordCircuitResult(host: String, failure: Bool, error: String?, settings: CircuitBreakerSettings,
                                    at: Date) async throws -> CircuitRecord {
        try await write { db in
            let current = try circuit(db, host: host) ?? CircuitRecord(host: host, updatedAt: at)
            let next = current.recording(failure: failure, error: error, at: at, settings: settings)
            // A closed circuit with nothing to remember needs no row.
            if next.state == .closed, next.failures.isEmpty {
                try db.execute(sql: "DELETE FROM circuits WHERE host = ?", arguments: [host])
            } else {
                try CircuitRow.save(db, next)
            }
            return next
        }
    }

    public func circuits() async throws -> [CircuitRecord] {
        try await read { db in try CircuitRow.fetchAll(db, sql: "SELECT * FROM circuits ORDER BY host").map { try $0.record() } }
    }

    public func resetCircuits(host: String?) async throws -> Int {
        try await write { db in
            if let host {
                try db.execute(sql: "DELETE FROM circuits WHERE host = ?", arguments: [host])
            } else {
                try db.execute(sql: "DELETE FROM circuits")
            }
            return db.changesCount
        }
    }

    private func circuit(_ db: Database, host: String) throws -> CircuitRecord? {
        try CircuitRow.fetchOne(db.cachedStatement(sql: "SELECT * FROM circuits WHERE host = ?"), arguments: [host])?.record()
    }
}
