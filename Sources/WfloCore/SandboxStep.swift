import Foundation

/// A `sandbox` step: untrusted code run in a restricted child process (or a namespace
/// container, or Docker), with limits on time, memory, output, processes and files.
///
/// The step's output is `{stdout, stderr, exit_code, signal, timed_out, killed_reason,
/// duration_seconds, cpu_seconds, stdout_truncated, stderr_truncated, files, backend}`. A program
/// that exits non-zero or is killed ends the step `failed` with that output recorded (or
/// `completed` with `allow_failure: true`); it never crashes the run's process.
///
/// ```yaml
/// - id: compute
///   type: sandbox
///   language: python
///   code: |
///     print(sum(range(10)))
///   limits: {wall: 5s, memory: 256MiB, output: 64KiB}
/// ```
public struct SandboxStepDefinition: Sendable, Hashable, Codable {
    /// `language:` (the interpreter runs `code` or `script`), nil with `command:`.
    public var language: SandboxLanguage?
    /// `command:` argv (templated), run as given; nil with `language:`.
    public var command: [Template]?
    /// The program text: `code:` (templated) or the contents of `script:` read at parse time.
    public var code: Template?
    /// `script:` as written, for messages.
    public var scriptPath: String?
    public var stdin: Template?
    /// `files:` placed in the scratch directory before the program starts.
    public var files: [SandboxFileTemplate]
    /// `outputs:` files collected from the scratch directory afterwards (never through a link).
    public var outputs: [String]
    /// `env:`: the program's whole environment besides PATH, LANG, HOME and TMPDIR.
    public var environment: [SandboxEnvironmentVariable]
    public var limits: SandboxLimits
    public var network: SandboxNetwork
    public var backend: SandboxBackendChoice
    /// `allow_missing:` layers the step may run without when the kernel lacks them.
    public var allowMissing: [SandboxLayer]

    public init(language: SandboxLanguage? = nil, command: [Template]? = nil, code: Template? = nil, scriptPath: String? = nil,
                stdin: Template? = nil, files: [SandboxFileTemplate] = [], outputs: [String] = [],
                environment: [SandboxEnvironmentVariable] = [], limits: SandboxLimits = SandboxLimits(),
                network: SandboxNetwork = .off, backend: SandboxBackendChoice = .process, allowMissing: [SandboxLayer] = []) {
        self.language = language
        self.command = command
        self.code = code
        self.scriptPath = scriptPath
        self.stdin = stdin
        self.files = files
        self.outputs = outputs
        self.environment = environment
        self.limits = limits
        self.network = network
        self.backend = backend
        self.allowMissing = allowMissing
    }

    public var templates: [Template] {
        (command ?? []) + [code, stdin].compactMap { $0 } + files.map(\.content) + environment.map(\.value)
    }

    /// The file `code` is written to in the scratch directory (`main.py`, …).
    public var mainFile: String? { language?.mainFile }

    /// What is wrong with `path` as a file of the scratch directory (`files:`, `outputs:`), or nil:
    /// it must be relative, without empty, `.` or `..` components.
    public static func pathProblem(_ path: String) -> String? {
        if path.isEmpty { return "an empty path names no file" }
        if path.hasPrefix("/") { return "'\(path)' is absolute; write a path relative to the scratch directory, such as out/result.json" }
        if path.utf8.contains(0) { return "'\(path)' holds a NUL byte" }
        if path.split(separator: "/", omittingEmptySubsequences: false).contains(where: { $0 == ".." || $0 == "." || $0.isEmpty }) {
            return "'\(path)' has an empty, '.' or '..' component; write a plain relative path such as out/result.json"
        }
        return nil
    }
}

public enum SandboxLanguage: String, Sendable, Hashable, Codable, CaseIterable {
    case python, bash, node

    /// The interpreter, looked up in the sandbox's PATH.
    public var interpreter: String {
        switch self {
        case .python: return "python3"
        case .bash: return "bash"
        case .node: return "node"
        }
    }

    public var mainFile: String {
        switch self {
        case .python: return "main.py"
        case .bash: return "main.sh"
        case .node: return "main.js"
        }
    }
}

/// A file placed in the scratch directory: a relative path (no `..`) and templated text.
public struct SandboxFileTemplate: Sendable, Hashable, Codable {
    public var path: String
    public var content: Template
    public init(path: String, content: Template) {
        self.path = path
        self.content = content
    }
}

public struct SandboxEnvironmentVariable: Sendable, Hashable, Codable {
    public var name: String
    public var value: Template
    public init(name: String, value: Template) {
        self.name = name
        self.value = value
    }
}

/// What a sandboxed program may use. Nil fields take ``SandboxLimits/defaults``' values.
public struct SandboxLimits: Sendable, Hashable, Codable {
    /// Seconds from start to the kill (SIGTERM to the whole tree, a grace period, SIGKILL).
    public var wall: Double?
    /// CPU seconds (RLIMIT_CPU).
    public var cpu: Double?
    /// Bytes of memory written (RLIMIT_DATA; address space gets 1 GiB of headroom above it).
    public var memory: Int?
    /// Bytes of stdout and of stderr kept; more ends the program (killed_reason output).
    public var output: Int?
    /// Processes and threads at once (RLIMIT_NPROC).
    public var processes: Int?
    /// Bytes one file may grow to (RLIMIT_FSIZE).
    public var fileSize: Int?
    /// Open file descriptors (RLIMIT_NOFILE).
    public var openFiles: Int?

    public init(wall: Double? = nil, cpu: Double? = nil, memory: Int? = nil, output: Int? = nil, processes: Int? = nil,
                fileSize: Int? = nil, openFiles: Int? = nil) {
        self.wall = wall
        self.cpu = cpu
        self.memory = memory
        self.output = output
        self.processes = processes
        self.fileSize = fileSize
        self.openFiles = openFiles
    }

    /// The limits of a step that writes none: 30s wall (CPU the same), 512 MiB, 1 MiB of
    /// output per stream, 64 processes, 64 MiB files, 256 open files.
    public static let defaults = SandboxLimits(wall: 30, cpu: 30, memory: 512 << 20, output: 1 << 20, processes: 64,
                                               fileSize: 64 << 20, openFiles: 256)

    /// Every field set: this one's, else `fallback`'s (CPU defaults to the wall limit).
    public func resolved(over fallback: SandboxLimits = .defaults) -> SandboxLimits {
        let wall = self.wall ?? fallback.wall
        return SandboxLimits(wall: wall, cpu: cpu ?? (self.wall != nil ? wall : fallback.cpu), memory: memory ?? fallback.memory,
                             output: output ?? fallback.output, processes: processes ?? fallback.processes,
                             fileSize: fileSize ?? fallback.fileSize, openFiles: openFiles ?? fallback.openFiles)
    }
}

/// `network:` of a sandbox step.
public enum SandboxNetwork: Sendable, Hashable, Codable {
    /// No sockets at all but socketpair (the default).
    case off
    /// TCP and UDP anywhere (`network: true`).
    case any
    /// TCP only, to and on the listed ports (`network: {connect: [443], bind: [8080]}`), enforced
    /// by Landlock; no UDP, so no DNS: connect to addresses.
    case tcp(connect: [Int], bind: [Int])
}

public enum SandboxBackendChoice: String, Sendable, Hashable, Codable, CaseIterable {
    /// Launcher: session, subreaper, rlimits, own uid, no_new_privs, Landlock, seccomp.
    case process
    /// User, pid, mount, net, ipc, uts namespaces; read-only root; tmpfs /tmp; the same seccomp.
    case namespaces
    /// A container of a Docker engine (`--network none --read-only --cap-drop ALL …`).
    case docker
    /// `namespaces` where user namespaces work, else `process`.
    case auto
}

/// A containment layer a step may be let run without (`allow_missing:`).
public enum SandboxLayer: String, Sendable, Hashable, Codable, CaseIterable {
    case landlock
    case landlockNet = "landlock-net"
    case landlockScope = "landlock-scope"
    case seccomp
    case uid
}

extension StepDefinition {
    /// The definition of a sandbox step; nil for other steps.
    public var sandbox: SandboxStepDefinition? {
        if case .sandbox(let sandbox) = kind { return sandbox }
        return nil
    }
}
