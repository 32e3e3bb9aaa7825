/// Errors of the reports: bad report options, with a message that names the flag and says
/// what to write instead.
public struct ReportError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// A `--since` value that is neither a duration nor a date.
        case invalidSince = "invalid_since"
        /// A `--by` value that is not a known grouping.
        case invalidGrouping = "invalid_grouping"
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
