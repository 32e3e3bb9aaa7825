/// Errors of the executor, with a message a user can act on.
public struct EngineError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// A template named something the run does not have.
        case template
        /// The step cannot be run as written (provider unknown, model not priced…).
        case configuration
        /// The run cannot be resumed (already finished, definition changed…).
        case resume
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
