import Foundation
import Logging
import PostgresNIO
import WfloCore
import WfloDSL
import WfloEngine
import WfloHTTP
import WfloPostgres
import WfloPricing
import WfloProviders

// wflo's per-step durable overhead on PostgreSQL: a 1,000-step chain of `transform` steps (each
// depends on the previous one) run to completion on a PostgresJournalStore, beside, in the same
// run and interleaved round by round on the same server:
//   - DBOS Transact (Benchmarks/dbos/peer.py, its own venv): one workflow of 1,000 no-op steps;
//   - the floor: a raw `BEGIN; INSERT; COMMIT` loop of 1,000 single-row transactions, twice: over
//     postgres-nio (the client wflo uses, from Swift) and over psycopg 3 (the client DBOS uses).
// Needs WFLO_BENCH_POSTGRES_URL or WFLO_TEST_POSTGRES_URL (Benchmarks/postgres.sh sets one up).

let steps = Int(ProcessInfo.processInfo.environment["BENCH_STEPS"] ?? "") ?? 1000
let repetitions = Int(ProcessInfo.processInfo.environment["BENCH_REPS"] ?? "") ?? 7
let environment = ProcessInfo.processInfo.environment
guard let url = environment["WFLO_BENCH_POSTGRES_URL"] ?? environment["WFLO_TEST_POSTGRES_URL"] else {
    FileHandle.standardError.write(Data("PostgresBenchmark: set WFLO_BENCH_POSTGRES_URL (postgres://USER@HOST:PORT/DB), or run Benchmarks/postgres.sh\n".utf8))
    exit(2)
}
let benchmarksFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

func median(_ values: [Double]) -> Double {
    let s = values.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func seconds(since start: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }

func workflowYAML(steps: Int) -> String {
    var yaml = "name: chain\nbudget: 0\nsteps:\n  - id: s0\n    type: transform\n    output: {n: 0}\n"
    for i in 1..<steps {
        yaml += "  - id: s\(i)\n    type: transform\n    output: {n: \(i), prev: \"{{steps.s\(i - 1).output.n}}\"}\n"
    }
    yaml += "outputs:\n  last: \"{{steps.s\(steps - 1).output.n}}\"\n"
    return yaml
}

/// The Python peer in serve mode: one round per line written, its wall seconds read back.
final class Peer {
    let process = Process()
    let input = Pipe()
    let output = Pipe()
    var buffer = Data()

    init(url: String, steps: Int) throws {
        let python = benchmarksFolder.appendingPathComponent("dbos/.venv/bin/python")
        guard FileManager.default.isExecutableFile(atPath: python.path) else {
            throw BenchmarkError("\(python.path) is missing: run `bash Benchmarks/dbos/setup.sh` first")
        }
        process.executableURL = python
        process.arguments = [benchmarksFolder.appendingPathComponent("dbos/peer.py").path, "serve", url, String(steps)]
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        let greeting = try line()
        guard greeting == "ready" else { throw BenchmarkError("dbos/peer.py said '\(greeting)' instead of ready") }
    }

    func line() throws -> String {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let text = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                buffer = Data(buffer[(newline + 1)...])
                return text
            }
            let more = output.fileHandleForReading.availableData
            guard !more.isEmpty else { throw BenchmarkError("dbos/peer.py exited (status \(process.isRunning ? -1 : process.terminationStatus)); see its stderr above") }
            buffer.append(more)
        }
    }

    func round(_ which: String) throws -> Double {
        input.fileHandleForWriting.write(Data((which + "\n").utf8))
        let answer = try line()
        guard let value = Double(answer) else { throw BenchmarkError("dbos/peer.py answered '\(answer)' to \(which)") }
        return value
    }

    func quit() {
        input.fileHandleForWriting.write(Data("quit\n".utf8))
        process.waitUntilExit()
    }
}

struct BenchmarkError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func createRawTable(_ connection: PostgresConnection, logger: Logger) async throws {
    try await connection.query("CREATE TABLE IF NOT EXISTS bench_raw_nio (id BIGSERIAL PRIMARY KEY, run TEXT NOT NULL, step TEXT NOT NULL, output TEXT NOT NULL)",
                               logger: logger)
}

/// `BEGIN; INSERT; COMMIT` STEPS times on one postgres-nio connection: the floor of one durable record per step.
func rawNIOLoop(_ connection: PostgresConnection, count: Int, logger: Logger) async throws -> Double {
    let run = UUID().uuidString
    let start = DispatchTime.now().uptimeNanoseconds
    for i in 0..<count {
        try await connection.query("BEGIN", logger: logger)
        let step = "s\(i)", output = "{\"n\":\(i)}"
        try await connection.query("INSERT INTO bench_raw_nio (run, step, output) VALUES (\(run), \(step), \(output))", logger: logger)
        try await connection.query("COMMIT", logger: logger)
    }
    return seconds(since: start)
}

let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
let parsed = try PostgresURL(parsing: url)
let rawConnection = try await PostgresConnection.connect(
    configuration: .init(host: parsed.host, port: parsed.port, username: parsed.user, password: parsed.password, database: parsed.database, tls: .disable),
    id: 1, logger: logger)
try await createRawTable(rawConnection, logger: logger)

let peer = try Peer(url: url, steps: steps)
let store = try await PostgresJournalStore.connect(url: url, schema: "wflo_bench")
let yaml = workflowYAML(steps: steps)
let definition = try WorkflowParser().parse(yaml: yaml, file: "chain.yaml")
let pricing = try PricingTable(json: ["sample_spec": [:]], source: "empty")
let transport = AsyncHTTPTransport()
let llm = LLMClient(transport: transport, endpoints: ProviderEndpoints.fromEnvironment([:]))
let executor = Executor(ExecutorConfiguration(store: store, pricing: pricing, llm: llm))

func wfloRound(_ definition: WorkflowDefinition, source: String, steps: Int) async throws -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    let result = try await executor.start(definition: definition, source: source, path: "chain.yaml", inputs: [:], budget: .zero)
    let elapsed = seconds(since: start)
    precondition(result.status == .completed, "benchmark run ended \(result.status): \(result.error ?? "")")
    precondition(result.outputs?["last"] == .int(steps - 1))
    return elapsed
}

// One warm-up round of each (the peer warmed itself up): pools, prepared plans.
let warmSteps = min(steps, 50)
let warmYAML = workflowYAML(steps: warmSteps)
_ = try await wfloRound(try WorkflowParser().parse(yaml: warmYAML, file: "chain.yaml"), source: warmYAML, steps: warmSteps)
_ = try await rawNIOLoop(rawConnection, count: warmSteps, logger: logger)

let loadBefore = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?"
var times: [String: [Double]] = [:]
for _ in 0..<repetitions {
    // Interleaved so machine noise hits all four alike.
    times["raw-nio", default: []].append(try await rawNIOLoop(rawConnection, count: steps, logger: logger))
    times["raw-psycopg", default: []].append(try peer.round("raw"))
    times["dbos", default: []].append(try peer.round("dbos"))
    times["wflo", default: []].append(try await wfloRound(definition, source: yaml, steps: steps))
}
let loadAfter = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?"
peer.quit()
await store.close()
try await rawConnection.close().get()
try await transport.shutdown()

let measured = times
func perStep(_ key: String) -> Double { median(measured[key] ?? []) / Double(steps) * 1000 }
let raw = perStep("raw-nio"), rawPy = perStep("raw-psycopg"), dbos = perStep("dbos"), wflo = perStep("wflo")
print("steps per round: \(steps), rounds: \(repetitions) (interleaved), load average \(loadBefore) before, \(loadAfter) after, \(ProcessInfo.processInfo.activeProcessorCount) cores")
print(String(format: "raw BEGIN/INSERT/COMMIT, postgres-nio : median %.4f ms/commit", raw))
print(String(format: "raw BEGIN/INSERT/COMMIT, psycopg 3    : median %.4f ms/commit", rawPy))
print(String(format: "DBOS no-op step chain                : median %.4f ms/step; ratio DBOS/raw-nio %.2fx", dbos, dbos / raw))
print(String(format: "wflo transform chain (PostgreSQL)    : median %.4f ms/step; ratio wflo/raw-nio %.2fx", wflo, wflo / raw))
print(String(format: "wflo/DBOS per step: %.3f (goal <= 0.333)", wflo / dbos))
for key in ["raw-nio", "raw-psycopg", "dbos", "wflo"] {
    print("all rounds \(key) (ms/step): " + (measured[key] ?? []).map { String(format: "%.3f", $0 / Double(steps) * 1000) }.joined(separator: " "))
}
