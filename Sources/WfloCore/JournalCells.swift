import Foundation

/// How a SQL journal's cells are read back, the same for every database (`WfloStore`'s SQLite,
/// `WfloPostgres`): money as exact decimal text, JSON as text, statuses as their raw values,
/// dates as seconds since 1970. A cell that does not parse throws `StoreError(.corrupt)` naming
/// its table and column, rather than being read as zero or null.
public enum JournalCells {
    public static func money(_ text: String, _ column: String) throws -> Money {
        guard let money = Money(string: text) else {
            throw StoreError(.corrupt, "\(column) holds '\(text)', not a decimal amount; the journal was edited or is damaged")
        }
        return money
    }

    public static func json(_ text: String, _ column: String) throws -> JSONValue {
        do {
            return try JSONValue.parse(text)
        } catch {
            throw StoreError(.corrupt, "\(column) holds JSON that does not parse (\(error)); the journal was edited or is damaged")
        }
    }

    public static func enumeration<T: RawRepresentable>(_ text: String, _ column: String) throws -> T where T.RawValue == String {
        guard let value = T(rawValue: text) else {
            throw StoreError(.corrupt, "\(column) holds unknown value '\(text)'; was the journal written by a newer wflo?")
        }
        return value
    }

    public static func date(_ seconds: Double) -> Date { Date(timeIntervalSince1970: seconds) }
}
