import Foundation
import WfloEngine

/// Crash testing: `WFLO_FAULT_KILL_AT=completed:STEP` (or `started:STEP`, `sleeping:STEP`) makes the process
/// SIGKILL itself right after that progress point, which comes after the journal commit it
/// reports. The crash tests use it to kill a real `wflo run`, or a program running durable
/// functions (WfloKit), at exact points; users never set it.
public struct FaultInjectingObserver: RunObserver {
    let inner: any RunObserver
    let point: String

    public static func wrap(_ observer: any RunObserver, environment: [String: String]) -> any RunObserver {
        guard let point = environment["WFLO_FAULT_KILL_AT"], !point.isEmpty else { return observer }
        return FaultInjectingObserver(inner: observer, point: point)
    }

    public func observe(_ progress: RunProgress) {
        inner.observe(progress)
        let here: String?
        switch progress {
        case .stepCompleted(let id, _, _, _): here = "completed:\(id)"
        case .stepStarted(let id, _, _, _, _): here = "started:\(id)"
        case .stepSleeping(let id, _): here = "sleeping:\(id)"
        default: here = nil
        }
        if here == point {
            kill(getpid(), SIGKILL)
        }
    }
}
