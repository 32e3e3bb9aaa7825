import Foundation
import GRDBSQLite
import WfloCore
import WfloProviders
import WfloStore

// LLM response cache: latency of a hit (`SQLiteJournalStore.cachedResponse`, which reads the row
// and parses the stored response), with the key computed from a request as the engine does, on a
// journal holding ENTRIES cached answers of realistic size. Baseline, in the same process on the
// same file: a raw sqlite3 prepared SELECT of the same row by primary key, without parsing.
// Medians over REPS interleaved repetitions of LOOKUPS lookups each.

let entries = Int(ProcessInfo.processInfo.environment["BENCH_ENTRIES"] ?? "") ?? 10_000
let lookups = Int(ProcessInfo.processInfo.environment["BENCH_LOOKUPS"] ?? "") ?? 5_000
let repetitions = Int(ProcessInfo.processInfo.environment["BENCH_REPS"] ?? "") ?? 7

func median(_ values: [Double]) -> Double {
    let s = values.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wflo-cache-bench-\(UUID().uuidString)")
try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: directory) }
let path = directory.appendingPathComponent("wflo.db").path
let store = try SQLiteJournalStore(path: path)

func request(_ i: Int) -> LLMRequest {
    LLMRequest(provider: .openai, model: "gpt-4o-mini", system: "Be brief.",
               messages: [LLMMessage(role: "user", content: "Question number \(i): summarise the state of solid-state batteries in two sentences.")],
               maxTokens: 200, temperature: 0)
}
let answer = String(repeating: "Solid-state cells swap the liquid electrolyte for a solid one. ", count: 12)
let base = "https://api.openai.com/v1"
var keys: [String] = []
let fillStart = Date()
for i in 0..<entries {
    let key = ResponseCache.key(for: request(i), baseURL: base, namespace: "bench")
    keys.append(key)
    let response = LLMResponse(id: "chatcmpl-\(i)", model: "gpt-4o-mini-2024-07-18", text: answer, finishReason: "stop",
                               usage: TokenUsage(inputTokens: 40, outputTokens: 180), json: nil)
    try await store.storeResponse(CacheEntry(key: key, namespace: "bench", model: "gpt-4o-mini", response: ResponseCache.encode(response),
                                             createdAt: Date(), expiresAt: nil))
}
print("filled \(entries) entries in \(String(format: "%.1f", Date().timeIntervalSince(fillStart))) s; \(lookups) hits per repetition, \(repetitions) repetitions")

func rawLookups(_ order: [Int], keys: [String]) -> Double {
    var db: OpaquePointer?
    precondition(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, nil) == SQLITE_OK)
    defer { sqlite3_close(db) }
    var select: OpaquePointer?
    sqlite3_prepare_v2(db, "SELECT response, expires_at FROM llm_cache WHERE key = ?", -1, &select, nil)
    defer { sqlite3_finalize(select) }
    let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
    let start = DispatchTime.now().uptimeNanoseconds
    var bytes = 0
    for i in order {
        sqlite3_bind_text(select, 1, keys[i], -1, transient)
        precondition(sqlite3_step(select) == SQLITE_ROW)
        bytes += Int(sqlite3_column_bytes(select, 0))
        sqlite3_reset(select)
    }
    precondition(bytes > 0)
    return Double(DispatchTime.now().uptimeNanoseconds - start) / Double(order.count) / 1000
}

func storeLookups(_ order: [Int], keys: [String], store: SQLiteJournalStore) async throws -> (lookup: Double, withKey: Double) {
    let now = Date()
    var start = DispatchTime.now().uptimeNanoseconds
    for i in order {
        guard let stored = try await store.cachedResponse(key: keys[i], at: now), ResponseCache.decode(stored) != nil else { fatalError("miss") }
    }
    let lookup = Double(DispatchTime.now().uptimeNanoseconds - start) / Double(order.count) / 1000
    start = DispatchTime.now().uptimeNanoseconds
    for i in order {
        let key = ResponseCache.key(for: request(i), baseURL: base, namespace: "bench")
        guard let stored = try await store.cachedResponse(key: key, at: now), ResponseCache.decode(stored) != nil else { fatalError("miss") }
    }
    let withKey = Double(DispatchTime.now().uptimeNanoseconds - start) / Double(order.count) / 1000
    return (lookup, withKey)
}

var raw: [Double] = [], lookup: [Double] = [], withKey: [Double] = []
for _ in 0..<repetitions {
    let order = (0..<lookups).map { _ in Int.random(in: 0..<entries) }
    raw.append(rawLookups(order, keys: keys))
    let measured = try await storeLookups(order, keys: keys, store: store)
    lookup.append(measured.lookup)
    withKey.append(measured.withKey)
}
print("raw sqlite3 SELECT by key          : median \(String(format: "%.1f", median(raw))) µs")
print("wflo cache hit (read + parse)      : median \(String(format: "%.1f", median(lookup))) µs (\(String(format: "%.1f", median(lookup) / median(raw)))x raw)")
print("wflo cache hit incl. SHA-256 key   : median \(String(format: "%.1f", median(withKey))) µs")
