/// What a service refuses, with a message a person can act on. Front ends choose how to show it
/// (the CLI prints `error: …` and exits with the code's number); the message never changes with them.
public struct AppError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of refusal: a struct over a private enum, so a new kind breaks no caller's `switch`.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case invalidInput, notFound, configuration, notAnApprover, alreadyDecided, stillRunning, forbidden
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A workflow, an input, a budget or a reference that cannot be used as given.
        public static let invalidInput = Code(.invalidInput)
        /// No run or approval request matches the reference.
        public static let notFound = Code(.notFound)
        /// The pricing table, a cassette, the egress file: what the environment was set up with.
        public static let configuration = Code(.configuration)
        /// The decider is not among the request's approvers.
        public static let notAnApprover = Code(.notAnApprover)
        /// The first decision won; this one was not recorded.
        public static let alreadyDecided = Code(.alreadyDecided)
        /// The process driving a run did not stop within the wait.
        public static let stillRunning = Code(.stillRunning)
        /// Not this caller's to read or do (a workflow file outside the server's workflows folder).
        public static let forbidden = Code(.forbidden)

        public var description: String { base.rawValue }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
