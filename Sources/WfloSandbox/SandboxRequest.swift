import Foundation
import WfloCore

/// One program to run in a sandbox, and everything it gets.
public struct SandboxRequest: Sendable, Hashable {
    /// argv; argv[0] is looked up in the environment's PATH when it has no '/'.
    public var command: [String]
    /// Exactly what the program sees, plus PATH, LANG, HOME and TMPDIR when not given.
    public var environment: [String: String]
    public var stdin: [UInt8]
    /// Placed in the scratch directory (its working directory) before it starts.
    public var files: [SandboxFile]
    /// Collected from the scratch directory after it ends (relative paths; never through a link).
    public var outputs: [String]
    public var policy: SandboxPolicy

    public init(command: [String], environment: [String: String] = [:], stdin: [UInt8] = [], files: [SandboxFile] = [],
                outputs: [String] = [], policy: SandboxPolicy = SandboxPolicy()) {
        self.command = command
        self.environment = environment
        self.stdin = stdin
        self.files = files
        self.outputs = outputs
        self.policy = policy
    }
}

public struct SandboxFile: Sendable, Hashable {
    /// Relative to the scratch directory; no `..`, no leading '/'.
    public var path: String
    public var contents: [UInt8]
    public var executable: Bool

    public init(path: String, contents: [UInt8], executable: Bool = false) {
        self.path = path
        self.contents = contents
        self.executable = executable
    }

    /// What is wrong with `path` as a scratch-relative file name, or nil.
    public static func problem(with path: String) -> String? { SandboxStepDefinition.pathProblem(path) }
}

/// How a program is contained. Limits not set take ``SandboxLimits/defaults``.
public struct SandboxPolicy: Sendable, Hashable {
    public var backend: SandboxBackendChoice
    public var limits: SandboxLimits
    public var network: SandboxNetwork
    /// Layers the program may run without when this machine lacks them.
    public var allowMissing: Set<SandboxLayer>
    /// Seconds between SIGTERM and SIGKILL when a limit or a cancellation stops the program.
    public var killGrace: Double
    /// The namespaces backend's root filesystem (built by sandbox-images/build-rootfs.sh); nil:
    /// WFLO_SANDBOX_ROOTFS, else read-only binds of the host's /usr, /lib, /bin and /etc.
    public var rootfs: String?
    /// The docker backend's image.
    public var dockerImage: String
    /// Paths the program may read and execute besides the system's (process backend: Landlock
    /// rules; a path that does not exist fails the start, naming it).
    public var readOnly: [String] = []

    public static let defaultDockerImage = "wflo-sandbox:latest"

    public init(backend: SandboxBackendChoice = .process, limits: SandboxLimits = SandboxLimits(), network: SandboxNetwork = .off,
                allowMissing: Set<SandboxLayer> = [], killGrace: Double = 1, rootfs: String? = nil,
                dockerImage: String = SandboxPolicy.defaultDockerImage) {
        self.backend = backend
        self.limits = limits
        self.network = network
        self.allowMissing = allowMissing
        self.killGrace = killGrace
        self.rootfs = rootfs
        self.dockerImage = dockerImage
    }
}
