import Foundation
import WfloCore
import WfloDSL

/// Reads `--input-file`: a JSON or YAML file holding an object of inputs.
enum InputFileReader {
    static func read(_ path: String) throws -> JSONValue {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw CLIError("cannot read the input file \(path)", exitCode: 2)
        }
        let value: JSONValue
        do {
            value = try YAMLValue.parse(text, file: path)
        } catch {
            throw CLIError("the input file \(path): \(error)", exitCode: 2)
        }
        guard case .object = value else {
            throw CLIError("the input file \(path) must hold an object of NAME: VALUE pairs", exitCode: 2)
        }
        return value
    }
}
