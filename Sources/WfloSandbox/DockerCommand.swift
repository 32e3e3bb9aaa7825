import Foundation
import WfloCore

/// The `docker run` command line of the docker backend: no network (unless the step allows
/// it), a read-only root, every capability dropped, no new privileges, and the step's limits.
public enum DockerCommand {
    /// The uid:gid the program runs as inside the container (the scratch directory is given to it).
    public static let user = "65534:65534"

    /// - Parameters:
    ///   - scratch: the host directory bound read-write at /scratch (the working directory).
    ///   - name: the container's name (`docker kill NAME` stops it at the wall limit).
    /// - Throws: ``SandboxError/Code/invalidRequest`` for `network: {connect: …}`, which Docker's
    ///   flags cannot express.
    public static func arguments(for request: SandboxRequest, scratch: String, name: String) throws(SandboxError) -> [String] {
        let limits = request.policy.limits.resolved()
        let network: String
        switch request.policy.network {
        case .off: network = "none"
        case .any: network = "bridge"
        case .tcp:
            throw SandboxError(.invalidRequest, "the docker backend cannot restrict TCP ports; use network: true with it, or the process backend for port allowlists")
        }
        var args = ["run", "--rm", "-i", "--name", name,
                    "--network", network,
                    "--read-only",
                    "--cap-drop", "ALL",
                    "--security-opt", "no-new-privileges",
                    "--cpus", "1",
                    "--user", user,
                    "--workdir", "/scratch",
                    "--mount", "type=bind,source=\(scratch),target=/scratch",
                    "--tmpfs", "/tmp:rw,nosuid,nodev,size=\(limits.fileSize ?? 64 << 20)"]
        if let processes = limits.processes { args += ["--pids-limit", String(processes)] }
        if let memory = limits.memory { args += ["--memory", "\(memory)b", "--memory-swap", "\(memory)b"] }
        if let cpu = limits.cpu { args += ["--ulimit", "cpu=\(Int(cpu.rounded(.up))):\(Int(cpu.rounded(.up)) + 1)"] }
        if let files = limits.openFiles { args += ["--ulimit", "nofile=\(files):\(files)"] }
        if let size = limits.fileSize { args += ["--ulimit", "fsize=\(size):\(size)"] }
        for (key, value) in request.environment.sorted(by: { $0.key < $1.key }) { args += ["--env", "\(key)=\(value)"] }
        args.append(request.policy.dockerImage)
        return args + request.command
    }
}
