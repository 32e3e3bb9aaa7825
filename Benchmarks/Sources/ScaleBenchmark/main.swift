import Foundation
import WfloCore
import WfloDSL
import WfloEngine
import WfloHTTP
import WfloPricing
import WfloProviders
import WfloReports
import WfloStore
import WfloApp

// How wflo scales with the size of a workflow: validate, run, status and report of a chain of
// 1k, 10k and 100k transform steps, each in a process of its own (wall time and peak memory),
// beside `sqlite3` dumping the run's rows from the same file in the same round. Also 1k against
// 30k independent steps (the scheduler's ready list) and for_each items (one step, many items).
//
// Run: swift run -c release ScaleBenchmark [SIZE…]   (BENCH_REPS rounds, default 3)
// It exits non-zero when a cost per step grows more than 2x from the second-largest size to the
// largest (a linear algorithm grows not at all; a quadratic one 10x from 10k to 100k).

let environment = ProcessInfo.processInfo.environment
let repetitions = Int(environment["BENCH_REPS"] ?? "") ?? 3
let arguments = CommandLine.arguments

func chainYAML(_ n: Int) -> String {
    var yaml = "name: chain\nsteps:\n  - id: s0\n    type: transform\n    output: {n: 0}\n"
    for i in 1..<n { yaml += "  - id: s\(i)\n    type: transform\n    output: {n: \(i), prev: \"{{steps.s\(i - 1).output.n}}\"}\n" }
    return yaml + "outputs:\n  last: \"{{steps.s\(n - 1).output.n}}\"\n"
}

func independentYAML(_ n: Int) -> String {
    var yaml = "name: independent\nsteps:\n"
    for i in 0..<n { yaml += "  - id: s\(i)\n    type: transform\n    output: {n: \(i)}\n" }
    return yaml
}

func itemsYAML(_ n: Int, parallel: Int) -> String {
    """
    name: items
    inputs:
      xs: {type: array, default: [\((0..<n).map(String.init).joined(separator: ", "))]}
    steps:
      - id: each
        type: transform
        for_each: {items: "{{inputs.xs}}", item_var: x, max_parallel: \(parallel)}
        output: {n: "{{for_each.x}}"}
    outputs:
      count: "{{steps.each.output.count}}"
    """
}

func peakMemoryKB() -> Int {
    var usage = rusage()
    getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
    return usage.ru_maxrss
}

// MARK: one measurement, in this process (a child of the benchmark)

if arguments.count >= 3, arguments[1] == "child" {
    let operation = arguments[2]
    let start = DispatchTime.now().uptimeNanoseconds
    switch operation {
    case "validate":
        _ = try WorkflowParser().parse(fileAt: arguments[3])
    case "run":
        let (definition, source) = try WorkflowParser().parse(fileAt: arguments[3])
        let store = try SQLiteJournalStore(path: arguments[4])
        let transport = AsyncHTTPTransport()
        let pricing = try PricingTable(json: ["sample_spec": [:]], source: "empty")
        let executor = Executor(ExecutorConfiguration(store: store, pricing: pricing, llm: LLMClient(transport: transport, endpoints: ProviderEndpoints())))
        let inputs = try InputBinder.bind(definition, arguments: [], file: nil)
        let result = try await executor.start(definition: definition, source: source, path: arguments[3], inputs: inputs, budget: nil, runID: "bench")
        try await transport.shutdown()
        precondition(result.status == .completed, "run ended \(result.status): \(result.error ?? "")")
    case "status", "report":
        // What `wflo status` / `wflo report` do: the report service's read of the run, then the table.
        let store = try SQLiteJournalStore(path: arguments[3])
        let report = try await ReportService(store: store).runReport("bench")
        let text = operation == "report" ? report.render(.table)
            : TextTable(header: ["STEP", "TYPE", "STATUS", "COST"], rows: report.steps.map { [$0.id, $0.type, $0.status, $0.cost.formatted(decimals: 6)] })
                .render(separatorBefore: nil)
        precondition(text.count > report.steps.count)
    default:
        fatalError("unknown operation \(operation)")
    }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    print("\(seconds) \(peakMemoryKB())")
    exit(0)
}

// MARK: the benchmark

let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path

/// Runs a process; returns its wall seconds as seen from here, and what it printed.
func timed(_ executable: String, _ args: [String]) throws -> (wall: Double, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = args
    let pipe = Pipe()
    process.standardOutput = pipe
    let start = DispatchTime.now().uptimeNanoseconds
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let wall = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    precondition(process.terminationStatus == 0, "\(executable) \(args.joined(separator: " ")) exited \(process.terminationStatus)")
    return (wall, String(decoding: data, as: UTF8.self))
}

struct Sample { var wall: [Double] = []; var peakKB = 0 }

func child(_ args: [String], into sample: inout Sample) throws {
    let (wall, output) = try timed(me, ["child"] + args)
    let fields = output.split(separator: " ")
    sample.wall.append(wall)
    sample.peakKB = max(sample.peakKB, Int(fields.last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0)
}

func summary(_ values: [Double]) -> (min: Double, median: Double, max: Double) {
    let s = values.sorted()
    return (s.first ?? 0, s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2, s.last ?? 0)
}

func show(_ label: String, _ sample: Sample, per: Int? = nil, baseline: Sample? = nil) -> String {
    let s = summary(sample.wall)
    var line = String(format: "%@ %8.3f %8.3f %8.3f s", label.padding(toLength: 44, withPad: " ", startingAt: 0), s.min, s.median, s.max)
    if sample.peakKB > 0 { line += String(format: "  peak %5d MB", sample.peakKB / 1024) }
    if let per { line += String(format: "  %.4f ms/step", s.median / Double(per) * 1000) }
    if let baseline { line += String(format: "  ×%.2f of sqlite3 dump (median)", s.median / summary(baseline.wall).median) }
    return line
}

let sizes = arguments.count > 1 ? arguments.dropFirst().compactMap { Int($0) } : [1_000, 10_000, 100_000]
let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wflo-scale-\(UUID().uuidString)")
try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: directory) }
print("\(repetitions) rounds; each measurement is a process of its own (start-up included); min / median / max wall time")

var perStep: [String: [Int: Double]] = [:]
for n in sizes {
    let file = directory.appendingPathComponent("chain-\(n).yaml").path
    try chainYAML(n).write(toFile: file, atomically: true, encoding: .utf8)
    var validate = Sample(), run = Sample(), status = Sample(), report = Sample(), dump = Sample()
    for rep in 0..<repetitions {
        let db = directory.appendingPathComponent("chain-\(n)-\(rep).db").path
        try child(["validate", file], into: &validate)
        try child(["run", file, db], into: &run)
        // The baseline: every row of the run, as `sqlite3` prints them.
        dump.wall.append(try timed("/usr/bin/sqlite3", [db, "SELECT * FROM runs; SELECT * FROM run_documents; SELECT * FROM steps; SELECT * FROM attempts; SELECT * FROM events;"]).wall)
        try child(["status", db], into: &status)
        try child(["report", db], into: &report)
    }
    print("chain of \(n) transform steps")
    print(show("  validate", validate, per: n))
    print(show("  run (parse, check, run)", run, per: n))
    print(show("  sqlite3 dump of the run (baseline)", dump))
    print(show("  status", status, baseline: dump))
    print(show("  report", report, baseline: dump))
    for (name, sample) in [("validate", validate), ("run", run), ("status", status), ("report", report)] {
        perStep[name, default: [:]][n] = summary(sample.wall).median / Double(n)
    }
}

// BENCH_CHAIN_ONLY=1: only the chains above (validate, run, status, report).
if environment["BENCH_CHAIN_ONLY"] != nil { exit(0) }

// The scheduler's ready list: every step ready at once.
var independent: [Int: Sample] = [:]
let independentSizes = [1_000, 30_000]
for n in independentSizes {
    let file = directory.appendingPathComponent("independent-\(n).yaml").path
    try independentYAML(n).write(toFile: file, atomically: true, encoding: .utf8)
    var run = Sample()
    for rep in 0..<repetitions { try child(["run", file, directory.appendingPathComponent("independent-\(n)-\(rep).db").path], into: &run) }
    independent[n] = run
    print(show("independent steps, \(n)", run, per: n))
}
let independentRatio = (summary(independent[30_000]!.wall).median / 30_000) / (summary(independent[1_000]!.wall).median / 1_000)
print(String(format: "  per-step cost at 30k / at 1k: %.2f", independentRatio))

// for_each items in one step.
let itemSizes = (environment["BENCH_ITEMS"] ?? "10000,100000").split(separator: ",").compactMap { Int($0) }
for n in itemSizes {
    for parallel in [1, 8] {
        let file = directory.appendingPathComponent("items-\(n)-\(parallel).yaml").path
        try itemsYAML(n, parallel: parallel).write(toFile: file, atomically: true, encoding: .utf8)
        var run = Sample()
        for rep in 0..<repetitions { try child(["run", file, directory.appendingPathComponent("items-\(n)-\(parallel)-\(rep).db").path], into: &run) }
        print(show("for_each of \(n) items, max_parallel \(parallel)", run, per: n))
    }
}

// Linearity: the cost per step may not grow much from the second-largest size to the largest.
var failed = false
if sizes.count >= 2 {
    let (small, large) = (sizes[sizes.count - 2], sizes[sizes.count - 1])
    for (name, costs) in perStep.sorted(by: { $0.key < $1.key }) {
        let growth = costs[large]! / costs[small]!
        print(String(format: "%@: cost per step at %d / at %d = %.2f", name, large, small, growth))
        if growth > 2 { failed = true }
    }
}
if independentRatio > 2 { failed = true }
if failed { print("FAILED: a cost per step grew more than 2x"); exit(1) }
