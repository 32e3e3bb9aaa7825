import ArgumentParser
import Foundation
import WfloCore
import WfloSandbox

/// `wflo sandbox check` and `wflo sandbox run -- CMD`.
struct SandboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "Check which sandbox layers work here, or run a command in the sandbox.",
        discussion: """
            sandbox steps run untrusted code: the process backend (default) starts a launcher that gives the
            program its own session, rlimits, its own uid when wflo runs as root, no_new_privs, Landlock (read-only
            system paths, read-write scratch) and a seccomp allowlist; namespaces adds user, pid, mount, net, ipc and
            uts namespaces with a read-only root; docker runs it in a container of a Docker engine.
            """,
        subcommands: [SandboxCheckCommand.self, SandboxRunCommand.self]
    )
}

struct SandboxCheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check", abstract: "Which containment layers work on this machine.")

    @Flag(help: "Print a JSON array.")
    var json = false

    func run() async throws {
        let layers = Sandbox().check()
        // Without the launcher no sandbox step can run at all: say so and fail.
        let launcherMissing = layers.contains { $0.name == "launcher" && !$0.works }
        if json {
            let list = JSONValue.array(layers.map { ["layer": .string($0.name), "works": .bool($0.works), "detail": .string($0.detail)] })
            Console.out(list.encoded(sorted: true, pretty: true) + "\n")
            if launcherMissing { throw ExitCode(1) }
            return
        }
        if launcherMissing {
            for layer in layers { Console.out("\(layer.name)  \(layer.works ? "works    " : "MISSING  ")\(layer.detail)\n") }
            Console.err("error: sandbox steps cannot run without wflo-sandbox-launcher: build it with `swift build --product wflo-sandbox-launcher` "
                        + "(scripts/install.sh installs it with wflo), or set WFLO_SANDBOX_LAUNCHER to its path\n")
            throw ExitCode(1)
        }
        let width = layers.map(\.name.count).max() ?? 0
        for layer in layers {
            Console.out(layer.name.padding(toLength: width + 2, withPad: " ", startingAt: 0) + (layer.works ? "works    " : "MISSING  ") + layer.detail + "\n")
        }
        let process = ["landlock", "seccomp", "uid"].allSatisfy { name in layers.contains { $0.name == name && $0.works } }
        let namespaces = layers.contains { $0.name == "namespaces" && $0.works }
        Console.out("\nbackends: process \(process ? "ready" : "needs allow_missing for the missing layers"), "
                    + "namespaces \(namespaces ? "ready" : "unavailable"), docker \(layers.contains { $0.name == "docker" && $0.works } ? "ready" : "unavailable")\n")
    }
}

struct SandboxRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a command under the sandbox's default policy (or the limits given).",
        discussion: """
            The command's stdout and stderr are passed through; wflo exits with its status (128+N when killed by
            signal N). Example: wflo sandbox run --wall 5s --memory 256MiB -- python3 -c 'print(42)'
            """
    )

    @Option(help: "process, namespaces, docker or auto.")
    var backend: String = "process"
    @Option(help: "Wall-clock limit (e.g. 5s, 1m; default 30s).")
    var wall: String?
    @Option(help: "CPU-time limit (default: the wall limit).")
    var cpu: String?
    @Option(help: "Memory limit (e.g. 256MiB; default 512MiB).")
    var memory: String?
    @Option(help: "Bytes of stdout and of stderr kept (default 1MiB); more stops the command.")
    var output: String?
    @Option(help: "Processes at once (default 64).")
    var processes: Int?
    @Option(name: .customLong("file-size"), help: "Largest file the command may write (default 64MiB).")
    var fileSize: String?
    @Option(name: .customLong("open-files"), help: "Open files (default 256).")
    var openFiles: Int?
    @Flag(help: "Allow network access (default: none).")
    var network = false
    @Option(name: .customLong("allow-missing"), help: "A layer to run without if missing here (landlock, landlock-net, landlock-scope, seccomp, uid).")
    var allowMissing: [String] = []
    @Option(name: .customLong("env"), help: "NAME=VALUE for the command's environment (nothing else is inherited).")
    var environment: [String] = []
    @Flag(help: "Pass wflo's standard input to the command.")
    var stdin = false
    @Flag(help: "Print the result as JSON instead of passing the output through.")
    var json = false
    @Argument(parsing: .postTerminator, help: "The command and its arguments, after --.")
    var command: [String] = []

    func validate() throws {
        if command.isEmpty { throw ValidationError("give the command after --, e.g. wflo sandbox run -- python3 -c 'print(1)'") }
        if SandboxBackendChoice(rawValue: backend) == nil { throw ValidationError("--backend is one of process, namespaces, docker, auto") }
        for (name, value) in [("--wall", wall), ("--cpu", cpu)] {
            if let value, (DurationText.seconds(value) ?? 0) <= 0 { throw ValidationError("\(name) must be a duration such as 5s or 1m, not '\(value)'") }
        }
        for (name, value) in [("--memory", memory), ("--output", output), ("--file-size", fileSize)] {
            if let value, ByteCountText.bytes(value) == nil { throw ValidationError("\(name) must be a size such as 64KiB or 256MiB, not '\(value)'") }
        }
        for layer in allowMissing where SandboxLayer(rawValue: layer) == nil {
            throw ValidationError("--allow-missing takes \(SandboxLayer.allCases.map(\.rawValue).joined(separator: ", ")), not '\(layer)'")
        }
        for pair in environment where !pair.contains("=") { throw ValidationError("--env takes NAME=VALUE, not '\(pair)'") }
    }

    func run() async throws {
        try await reportingErrors {
            let limits = SandboxLimits(wall: wall.flatMap(DurationText.seconds), cpu: cpu.flatMap(DurationText.seconds),
                                       memory: memory.flatMap(ByteCountText.bytes), output: output.flatMap(ByteCountText.bytes),
                                       processes: processes, fileSize: fileSize.flatMap(ByteCountText.bytes), openFiles: openFiles)
            var variables: [String: String] = [:]
            for pair in environment {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                variables[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
            }
            let input = stdin ? Array(FileHandle.standardInput.readDataToEndOfFile()) : []
            let policy = SandboxPolicy(backend: SandboxBackendChoice(rawValue: backend) ?? .process, limits: limits, network: network ? .any : .off,
                                       allowMissing: Set(allowMissing.compactMap(SandboxLayer.init(rawValue:))))
            let result: SandboxResult
            do {
                result = try await Sandbox().run(SandboxRequest(command: command, environment: variables, stdin: input, policy: policy))
            } catch let error as SandboxError {
                throw CLIError(error.message, exitCode: 1)
            }
            if json {
                Console.out(result.json.encoded(sorted: true, pretty: true) + "\n")
            } else {
                Console.out(Data(result.stdout))
                Console.err(Data(result.stderr))
                if result.killedReason != nil || result.signal != nil { Console.err("wflo sandbox: \(result.summary)\n") }
            }
            if let code = result.exitCode, result.killedReason == nil { throw ExitCode(Int32(code)) }
            throw ExitCode(128 + (result.signal ?? 9))
        }
    }
}
