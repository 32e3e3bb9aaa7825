import Foundation
import Testing
import WfloCore
@testable import WfloSandbox

/// The docker backend's command line, and its refusal when no engine answers (none runs on the
/// machines this is developed on: only the client is installed).
@Suite struct DockerBackendTests {
    @Test func theCommandLineCarriesEveryRestrictionAndLimit() throws {
        let request = SandboxRequest(command: ["python3", "main.py"], environment: ["MODE": "fast", "A": "1"],
                                     policy: SandboxPolicy(backend: .docker, limits: SandboxLimits(wall: 5, cpu: 2, memory: 256 << 20,
                                                                                                    processes: 16, fileSize: 1 << 20, openFiles: 64)))
        let args = try DockerCommand.arguments(for: request, scratch: "/tmp/wflo-sandbox-x/work", name: "wflo-sandbox-abc")
        #expect(Array(args.prefix(5)) == ["run", "--rm", "-i", "--name", "wflo-sandbox-abc"])
        func value(after flag: String) -> [String] {
            args.indices.filter { args[$0] == flag && $0 + 1 < args.count }.map { args[$0 + 1] }
        }
        #expect(value(after: "--network") == ["none"])
        #expect(args.contains("--read-only"))
        #expect(value(after: "--cap-drop") == ["ALL"])
        #expect(value(after: "--security-opt") == ["no-new-privileges"])
        #expect(value(after: "--pids-limit") == ["16"])
        #expect(value(after: "--memory") == ["268435456b"])
        #expect(value(after: "--memory-swap") == ["268435456b"], "no swap beyond the memory limit")
        #expect(value(after: "--cpus") == ["1"])
        #expect(value(after: "--ulimit") == ["cpu=2:3", "nofile=64:64", "fsize=1048576:1048576"])
        #expect(value(after: "--user") == ["65534:65534"])
        #expect(value(after: "--mount") == ["type=bind,source=/tmp/wflo-sandbox-x/work,target=/scratch"])
        #expect(value(after: "--workdir") == ["/scratch"])
        #expect(value(after: "--env") == ["A=1", "MODE=fast"])
        #expect(Array(args.suffix(3)) == [SandboxPolicy.defaultDockerImage, "python3", "main.py"])
    }

    @Test func networkTrueUsesTheDefaultBridgeAndPortListsAreRefused() throws {
        var request = SandboxRequest(command: ["true"], policy: SandboxPolicy(backend: .docker, network: .any))
        let args = try DockerCommand.arguments(for: request, scratch: "/s", name: "n")
        #expect(args.contains("bridge"))
        request.policy.network = .tcp(connect: [443], bind: [])
        #expect(throws: SandboxError.self) { try DockerCommand.arguments(for: request, scratch: "/s", name: "n") }
    }

    @Test func withoutAnEngineTheStepFailsSayingWhatToDo() async throws {
        var environment = ProcessInfo.processInfo.environment
        environment["DOCKER_HOST"] = "unix:///nonexistent/wflo-test-docker.sock"
        let sandbox = Sandbox(environment: environment)
        let request = SandboxRequest(command: ["true"], policy: SandboxPolicy(backend: .docker))
        do {
            _ = try await sandbox.run(request)
            Issue.record("the docker backend ran without an engine")
        } catch let error as SandboxError {
            #expect(error.code == .engineUnavailable)
            #expect(error.message.contains("use backend: process or namespaces"), "\(error.message)")
        }
        environment["PATH"] = "/nonexistent"
        do {
            _ = try await Sandbox(environment: environment).run(request)
            Issue.record("the docker backend ran without a client")
        } catch let error as SandboxError {
            #expect(error.code == .engineUnavailable)
            #expect(error.message.contains("no docker client on PATH"))
        }
    }

    @Test func autoPicksNamespacesWhereTheyWork() throws {
        let backend = try Sandbox().resolve(.auto)
        #expect(backend == (Machine.namespaces ? .namespaces : .process))
        #expect(try Sandbox().resolve(.process) == .process)
    }

    @Test func aMissingLauncherIsNamedWithTheFix() async throws {
        var environment = ProcessInfo.processInfo.environment
        environment["WFLO_SANDBOX_LAUNCHER"] = "/nonexistent/wflo-sandbox-launcher"
        do {
            _ = try await Sandbox(environment: environment).run(SandboxRequest(command: ["true"]))
            Issue.record("ran without a launcher")
        } catch let error as SandboxError {
            #expect(error.code == .launcherNotFound)
            #expect(error.message.contains("WFLO_SANDBOX_LAUNCHER"))
        }
    }

    @Test func aProgramThatCannotBeFoundIsReportedByTheLauncher() async throws {
        do {
            _ = try await Sandbox().run(SandboxRequest(command: ["wflo-no-such-program"], policy: SandboxPolicy(limits: Probe.quick)))
            Issue.record("a missing program ran")
        } catch let error as SandboxError {
            #expect(error.layer == "exec")
            #expect(error.message.contains("cannot run wflo-no-such-program"), "\(error.message)")
        }
    }
}

/// A kernel without a layer: the launcher, told to treat the layer as absent, refuses to start
/// the program and names the layer, unless the step opted out of it.
@Suite struct MissingLayerTests {
    @Test(arguments: ["landlock", "seccomp"])
    func aMissingLayerFailsTheLaunchNamingItUnlessOptedOut(layer: String) throws {
        let launcher = try Launcher.locate(environment: ProcessInfo.processInfo.environment)
        let scratch = try Scratch.create(environment: [:])
        defer { scratch.remove() }
        let refused = try ChildProcess.run(executable: launcher.path, arguments: ["--scratch", scratch.work, "--assume-missing", layer, "--", "/bin/echo", "ran"],
                                           environment: [:], stdin: [], fd4: nil, outputLimit: 65536, deadline: 10, started: { _ in })
        #expect(refused.report["layer"] == layer)
        #expect(refused.report["error"]?.contains("allow_missing: [\(layer)]") == true, "\(refused.report)")
        #expect(refused.stdout.isEmpty, "the program must not run")
        let allowed = try ChildProcess.run(executable: launcher.path,
                                           arguments: ["--scratch", scratch.work, "--assume-missing", layer, "--allow-missing", layer, "--", "/bin/echo", "ran"],
                                           environment: [:], stdin: [], fd4: nil, outputLimit: 65536, deadline: 10, started: { _ in })
        #expect(allowed.report["error"] == nil, "\(allowed.report)")
        #expect(String(decoding: allowed.stdout, as: UTF8.self) == "ran\n")
    }
}
