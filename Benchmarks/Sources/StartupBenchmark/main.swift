import Foundation

// Start-up cost of the `wflo` executable (issue 14): `wflo --help`, `wflo --version` and `wflo run`
// of a one-step transform workflow (no model, $0), each spawned N times, interleaved with a bare
// `/bin/true` spawn so the process-creation floor of the same machine and moment is beside them.
//
// Build wflo first: (in wflo) swift build -c release --product wflo
// Run: cd Benchmarks && swift run -c release StartupBenchmark [ROUNDS] [PATH-TO-WFLO]
// Goal: --help ≤ 50 ms, run of a one-step transform ≤ 60 ms (medians).

let arguments = CommandLine.arguments
let rounds = arguments.count > 1 ? Int(arguments[1]) ?? 30 : 30
let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()
let wflo = arguments.count > 2 ? arguments[2] : repository.appendingPathComponent(".build/release/wflo").path
guard FileManager.default.isExecutableFile(atPath: wflo) else {
    print("no wflo at \(wflo): run `swift build -c release --product wflo` in the repository first")
    exit(1)
}

let folder = FileManager.default.temporaryDirectory.appendingPathComponent("wflo-startup-\(UUID().uuidString)")
try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: folder) }
let workflow = folder.appendingPathComponent("one-step.yaml")
try """
    name: one-step
    budget: 0
    steps:
      - id: only
        type: transform
        output: "hello"
    """.write(to: workflow, atomically: true, encoding: .utf8)
let database = folder.appendingPathComponent("journal.db").path

let commands: [(name: String, executable: String, arguments: [String])] = [
    ("/bin/true", "/bin/true", []),
    ("wflo --help", wflo, ["--help"]),
    ("wflo --version", wflo, ["--version"]),
    ("wflo run (1 transform step)", wflo, ["run", workflow.path, "--db", database]),
]

/// Wall time from spawn to exit, in milliseconds; output discarded. `posix_spawn` and `waitpid`
/// directly: Foundation's `Process` adds a ~50 ms floor on Linux (its run-loop wait).
func spawn(_ executable: String, _ arguments: [String]) throws -> Double {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    var pid = pid_t()
    let start = ContinuousClock.now
    let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environ)
    guard spawned == 0 else { throw NSError(domain: "StartupBenchmark", code: Int(spawned)) }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    let elapsed = ContinuousClock.now - start
    guard status == 0 else {
        throw NSError(domain: "StartupBenchmark", code: Int(status),
                      userInfo: [NSLocalizedDescriptionKey: "\(executable) \(arguments.joined(separator: " ")) exited with status \(status)"])
    }
    return Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
}

// One warm-up spawn each (page cache), then interleaved rounds.
for command in commands { _ = try spawn(command.executable, command.arguments) }
var times = Array(repeating: [Double](), count: commands.count)
for _ in 0..<rounds {
    for (index, command) in commands.enumerated() {
        times[index].append(try spawn(command.executable, command.arguments))
    }
}

print("wflo start-up, \(rounds) interleaved rounds (wall ms from spawn to exit): min / median / max")
for (index, command) in commands.enumerated() {
    let sorted = times[index].sorted()
    let median = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    let name = command.name.padding(toLength: 30, withPad: " ", startingAt: 0)
    print(name + [sorted[0], median, sorted[sorted.count - 1]].map { String(format: "%8.1f", $0) }.joined())
}
