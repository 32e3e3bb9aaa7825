import Foundation
import Testing
@testable import WfloCLI
import WfloTesting

/// A step's time on the progress line is written without a formatter per line; it must read as
/// `%.2f` wrote it.
struct ConsoleObserverTests {
    @Test func secondsReadAsPrintfWritesThem() {
        var generator = Mutator.Generator(seed: 0x5EC0_0D5)
        var values: [Double] = [0, 0.004, 0.005, 0.015, 0.125, 0.995, 1, 1.005, 9.999, 59.995, 100, 12345.678]
        for _ in 0..<20_000 {
            let scale = [1.0, 10, 1000][Int(generator.next() % 3)]
            values.append(Double(generator.next() % 1_000_000_000) / 1_000_000_000 * scale)
        }
        let wrong = values.filter { ConsoleObserver.seconds($0) != String(format: "%.2f", $0) }
        #expect(wrong.isEmpty, "\(wrong.prefix(5).map { "\($0): \(ConsoleObserver.seconds($0)) vs \(String(format: "%.2f", $0))" })")
    }
}
