import WfloCore

/// One problem in a workflow file, at the place it was found.
///
/// Its description is `file:line:column: error: message`, the shape compilers use, so editors
/// and terminals can jump to the place.
public struct Diagnostic: Sendable, Hashable, CustomStringConvertible {
    /// Where the offending node starts (for a template reference, where the `{{` is when that
    /// can be told from the source text).
    public var location: SourceLocation
    /// What is wrong and, where it can, what to write instead.
    public var message: String

    public init(location: SourceLocation, message: String) {
        self.location = location
        self.message = message
    }

    /// `file:line:column: error: message`.
    public var description: String { "\(location): error: \(message)" }
}
