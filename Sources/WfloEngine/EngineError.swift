/// Errors of the executor, with a message a user can act on.
public struct EngineError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// A template named something the run does not have.
        case template
        /// The step cannot be run as written (provider unknown, model not priced…).
        case configuration
        /// The run cannot be resumed (already finished, definition changed…).
        case resume
        /// Another live process drives the run (its lease is held): it cannot be driven here.
        case runHeld
        /// `wflo cancel` recorded its request but the process driving the run did not stop in time.
        case notStopped
    }

    public let code: Code
    public let message: String
    public let stepID: String?

    public init(_ code: Code, _ message: String, stepID: String? = nil) {
        self.code = code
        self.message = message
        self.stepID = stepID
    }

    public var description: String {
        if let stepID { return "step '\(stepID)': \(message)" }
        return message
    }
}
