/// A run's inputs could not be bound: the message names the input and says what to pass.
public struct InputError: Error, Sendable, CustomStringConvertible {
    public let message: String

    public init(message: String) {
        self.message = message
    }

    public var description: String { message }
}
