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

    /// An attempt row read back from its cells (`attempts` in both journals).
    public static func attempt(id: Int64, runID: String, stepID: String, number: Int, status: String, model: String?,
                               reserved: String, cost: String?, usage: String?, error: String?, startedAt: Double,
                               finishedAt: Double?, cacheHit: Bool, saved: String?, fees: String?, flags: String?) throws -> AttemptRecord {
        let tokens = try usage.map { text -> TokenUsage in
            guard let usage = TokenUsage(json: try json(text, "attempts.usage")) else {
                throw StoreError(.corrupt, "attempts.usage of attempt \(id) is not a token usage object: \(text)")
            }
            return usage
        }
        let list = try flags.map { text -> [String] in
            guard let list = try json(text, "attempts.flags").arrayValue?.compactMap(\.stringValue) else {
                throw StoreError(.corrupt, "attempts.flags of attempt \(id) is not a list of flags: \(text)")
            }
            return list
        }
        return AttemptRecord(id: id, runID: runID, stepID: stepID, number: number,
                             status: try enumeration(status, "attempts.status"), model: model,
                             reserved: try money(reserved, "attempts.reserved_usd"),
                             cost: try cost.map { try money($0, "attempts.cost_usd") }, usage: tokens, error: error,
                             startedAt: date(startedAt), finishedAt: finishedAt.map(date), cacheHit: cacheHit,
                             saved: try saved.map { try money($0, "attempts.saved_usd") },
                             fees: try fees.map { try money($0, "attempts.fees_usd") }, flags: list ?? [])
    }
}

extension JournalCells {
    /// `runs.trigger`: the ``RunTrigger`` as JSON (`at` in seconds since 1970), or nil.
    public static func triggerCell(_ trigger: RunTrigger?) -> String? {
        guard let trigger else { return nil }
        var object: [String: JSONValue] = ["kind": .string(trigger.kind.rawValue), "key": .string(trigger.key),
                                           "at": .number(String(trigger.at.timeIntervalSince1970))]
        if let delivery = trigger.delivery { object["delivery"] = .string(delivery) }
        return JSONValue.object(object).encoded()
    }

    public static func trigger(_ text: String?, _ column: String) throws -> RunTrigger? {
        guard let text else { return nil }
        let value = try json(text, column)
        guard let object = value.objectValue, case .string(let kind)? = object["kind"], let k = RunTrigger.Kind(rawValue: kind),
              case .string(let key)? = object["key"], case .number(let atText)? = object["at"], let at = Double(atText) else {
            throw StoreError(.corrupt, "\(column) holds '\(text)', not a trigger; was the journal written by a newer wflo?")
        }
        var delivery: String?
        if case .string(let d)? = object["delivery"] { delivery = d }
        return RunTrigger(kind: k, at: Date(timeIntervalSince1970: at), key: key, delivery: delivery)
    }
}
