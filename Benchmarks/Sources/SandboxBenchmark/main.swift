import Foundation
import WfloCore
import WfloSandbox
#if canImport(Glibc)
import Glibc
#endif

// Start-to-exit latency of `/bin/true` and `python3 -c pass`: bare posix_spawn+wait, the
// launcher alone (no Swift runtime around it), wflo's Sandbox.run under each backend that works
// here (scratch directory, pipes, report, cleanup included), and bubblewrap with comparable
// isolation (all namespaces, read-only /usr and /etc, tmpfs /tmp, the same seccomp filter).
// Variants run interleaved, round by round, so drift on a shared machine hits them alike.
//
// Run: swift build -c release --product wflo-sandbox-launcher   (in the wflo folder)
//      cd Benchmarks && swift run -c release SandboxBenchmark
// BENCH_ROUNDS (default 60) sets the rounds per command.

let environment = ProcessInfo.processInfo.environment
let rounds = Int(environment["BENCH_ROUNDS"] ?? "") ?? 60
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

func findLauncher() -> String? {
    if let path = environment["WFLO_SANDBOX_LAUNCHER"] { return path }
    for config in ["release", "debug"] {
        let path = root.appendingPathComponent(".build/\(config)/wflo-sandbox-launcher").path
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
}
guard let launcher = findLauncher() else {
    print("wflo-sandbox-launcher not found: run `swift build -c release --product wflo-sandbox-launcher` in \(root.path), or set WFLO_SANDBOX_LAUNCHER")
    exit(1)
}
setenv("WFLO_SANDBOX_LAUNCHER", launcher, 1)
var sandboxEnvironment = environment
sandboxEnvironment["WFLO_SANDBOX_LAUNCHER"] = launcher
let sandbox = Sandbox(environment: sandboxEnvironment)

func which(_ name: String) -> String? {
    for folder in ["/usr/local/bin", "/usr/bin", "/bin"] where FileManager.default.isExecutableFile(atPath: "\(folder)/\(name)") {
        return "\(folder)/\(name)"
    }
    return nil
}

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// posix_spawn + waitpid, stdin/stdout/stderr to /dev/null; `fd3`/`fd4` become the child's 3 and 4.
func spawnAndWait(_ argv: [String], fd4: [UInt8]? = nil) -> Int32 {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    for fd: Int32 in [0, 1, 2, 3] { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0) }
    var pipeFDs: [Int32] = [-1, -1]
    if let fd4 {
        _ = pipe(&pipeFDs)
        _ = fd4.withUnsafeBytes { write(pipeFDs[1], $0.baseAddress, $0.count) }
        close(pipeFDs[1])
        // Out of the way of fds 0-4, which the actions above and below reopen.
        let high = fcntl(pipeFDs[0], F_DUPFD_CLOEXEC, 64)
        close(pipeFDs[0])
        pipeFDs[0] = high
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[0], 4)
    }
    var pointers: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    defer { pointers.forEach { free($0) } }
    var env: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=/usr/local/bin:/usr/bin:/bin"), nil]
    defer { env.forEach { free($0) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, argv[0], &actions, nil, &pointers, &env)
    if fd4 != nil { close(pipeFDs[0]) }
    guard rc == 0 else { return -1 }
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    return status
}

func median(_ values: [Double]) -> Double {
    let s = values.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

let scratchBase = "/tmp/wflo-bench-" + UUID().uuidString
try FileManager.default.createDirectory(atPath: scratchBase + "/work", withIntermediateDirectories: true)
chmod(scratchBase, 0o711)
defer { try? FileManager.default.removeItem(atPath: scratchBase) }

// The seccomp filter, exported once as the runtime does.
func exportFilter() -> [UInt8] {
    let out = Pipe()
    let process = Process()
    process.executableURL = URL(fileURLWithPath: launcher)
    process.arguments = ["--export-bpf", "none"]
    process.standardOutput = out
    try? process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Array(data)
}
let filter = exportFilter()

let layers = sandbox.check()
let namespaces = layers.contains { $0.name == "namespaces" && $0.works }
let bwrap = which("bwrap")

struct Variant {
    var name: String
    var run: ([String]) async throws -> Bool
}

var variants: [Variant] = [
    Variant(name: "bare posix_spawn") { spawnAndWait($0) == 0 },
    Variant(name: "launcher alone (process)") { command in
        spawnAndWait([launcher, "--scratch", scratchBase + "/work", "--bpf-fd", "--wall-ms", "10000", "--memory", String(512 << 20),
                      "--processes", "64", "--open-files", "256", "--file-size", String(64 << 20), "--"] + command, fd4: filter) == 0
    },
    Variant(name: "Sandbox.run process") { command in
        try await sandbox.run(SandboxRequest(command: command, policy: SandboxPolicy(backend: .process))).succeeded
    },
]
if namespaces {
    variants.append(Variant(name: "Sandbox.run namespaces") { command in
        try await sandbox.run(SandboxRequest(command: command, policy: SandboxPolicy(backend: .namespaces))).succeeded
    })
}
if let bwrap {
    // Comparable isolation: every namespace, read-only system, tmpfs /tmp, scratch bound, new session,
    // no capabilities, and the same seccomp filter (bwrap --seccomp reads BPF from a fd).
    variants.append(Variant(name: "bwrap (all namespaces + same seccomp)") { command in
        var args = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
                    "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
        for link in ["bin", "lib", "lib64", "sbin"] {
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/" + link) {
                args += ["--symlink", target, "/" + link]
            } else if FileManager.default.fileExists(atPath: "/" + link) {
                args += ["--ro-bind", "/" + link, "/" + link]
            }
        }
        args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--bind", scratchBase + "/work", "/scratch", "--chdir", "/scratch",
                 "--seccomp", "4", "--"]
        return spawnAndWait(args + command, fd4: filter) == 0
    })
}

let python = "/usr/bin/python3"
let commands: [(label: String, argv: [String])] = [("/bin/true", ["/bin/true"]), ("python3 -c pass", [python, "-c", "pass"])]
print("Sandbox start-to-exit latency, \(rounds) interleaved rounds per command (median ms)")
print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores; launcher \(launcher); bwrap \(bwrap ?? "not installed (apt-get install bubblewrap)")")
if !namespaces { print("namespaces backend: unavailable here (\(layers.first { $0.name == "namespaces" }?.detail ?? "?"))") }
var medians: [String: [String: Double]] = [:]
for command in commands {
    var samples: [String: [Double]] = [:]
    // Warm-up: the page cache, the filter export, the check.
    for variant in variants { _ = try await variant.run(command.argv) }
    for round in 0..<rounds {
        let order = variants.indices.map { variants[($0 + round) % variants.count] }
        for variant in order {
            let start = now()
            let ok = try await variant.run(command.argv)
            let elapsed = Double(now() - start) / 1e6
            if !ok { print("warning: \(variant.name) failed on \(command.label)") }
            samples[variant.name, default: []].append(elapsed)
        }
    }
    print("\n\(command.label)")
    let bare = median(samples["bare posix_spawn"] ?? [1])
    let bw = samples.first { $0.key.hasPrefix("bwrap") }.map { median($0.value) }
    for variant in variants {
        let m = median(samples[variant.name] ?? [])
        medians[command.label, default: [:]][variant.name] = m
        var line = "  " + variant.name.padding(toLength: 40, withPad: " ", startingAt: 0) + String(format: "%8.2f ms   %5.2fx bare", m, m / bare)
        if let bw { line += String(format: "   %5.2fx bwrap", m / bw) }
        print(line)
    }
}
let pythonRatio = (medians["python3 -c pass"]?["Sandbox.run process"] ?? 0) / (medians["python3 -c pass"]?["bare posix_spawn"] ?? 1)
print(String(format: "\ngoal: python3 -c pass under Sandbox.run process within 1.2x of bare: %.2fx %@", pythonRatio, pythonRatio <= 1.2 ? "(met)" : "(not met)"))
if let bw = medians["/bin/true"]?.first(where: { $0.key.hasPrefix("bwrap") })?.value {
    let t = (medians["/bin/true"]?["Sandbox.run process"] ?? 0) / bw
    print(String(format: "goal: /bin/true under Sandbox.run process below half of bwrap's: %.2fx of bwrap %@", t, t < 0.5 ? "(met)" : "(not met)"))
}
