import Foundation
import GRDB
import Synchronization

/// One read-only connection of the journal's own that reads `PRAGMA data_version`
/// (``SQLiteJournalStore/changeStamp()``). SQLite changes that number on a connection whenever
/// another connection, of this process or of another, has committed since the connection last
/// looked; this connection never writes, so it sees every commit. Opened on first use: most
/// commands never ask.
final class ChangeWatcher: Sendable {
    private let path: String
    private let connection = Mutex<DatabaseQueue?>(nil)

    init(path: String) {
        self.path = path
    }

    /// The journal's data version now.
    /// - Throws: GRDB's error when the file cannot be opened or read at once (no waiting for a lock).
    func stamp() throws -> UInt64 {
        try connection.withLock { queue in
            let open: DatabaseQueue
            if let queue {
                open = queue
            } else {
                var configuration = Configuration()
                configuration.readonly = true
                open = try DatabaseQueue(path: path, configuration: configuration)
                queue = open
            }
            return try open.inDatabase { db in try Int64.fetchOne(db.cachedStatement(sql: "PRAGMA data_version")).map { UInt64(bitPattern: $0) } ?? 0 }
        }
    }
}
