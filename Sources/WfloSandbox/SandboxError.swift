import Foundation
import WfloCore

/// Why a sandbox could not run a program at all. A program that ran and failed (non-zero exit,
/// killed at a limit) is a ``SandboxResult``, never this error.
public struct SandboxError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        fileprivate let name: String
        /// The kernel (or machine) lacks a containment layer and the step did not opt out of it.
        public static let layerMissing = Code(name: "layer_missing")
        /// wflo-sandbox-launcher was not found next to the executable nor at WFLO_SANDBOX_LAUNCHER.
        public static let launcherNotFound = Code(name: "launcher_not_found")
        /// The docker backend was asked for and no Docker engine answers.
        public static let engineUnavailable = Code(name: "engine_unavailable")
        /// A request that cannot be run as given (a file path leaving the scratch directory, …).
        public static let invalidRequest = Code(name: "invalid_request")
        /// Starting a process, creating the scratch directory, or reading its files failed.
        public static let system = Code(name: "system")
        public var description: String { name }
    }

    public var code: Code
    /// The layer that is missing, for ``Code/layerMissing``.
    public var layer: String?
    public var message: String

    public init(_ code: Code, _ message: String, layer: String? = nil) {
        self.code = code
        self.message = message
        self.layer = layer
    }

    public var description: String { "sandbox: " + message }
}
