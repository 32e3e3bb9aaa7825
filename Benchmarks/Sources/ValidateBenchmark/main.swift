import Foundation
import WfloDSL
import Yams

// Reading a workflow: the YAML composition a 1k/10k/100k-step chain costs with Yams' default
// resolver (every mapping key's tag resolved by up to seven regular expressions in Yams'
// duplicate-key check, and every value's when it is read) beside the way wflo composes now (no
// tag rules; plain values resolved only when their first character could start a non-string),
// in the same process on the same text, interleaved. Then the whole `WorkflowParser.parse`
// (composition, definitions, references, cycles) of the same file.

let repetitions = Int(ProcessInfo.processInfo.environment["BENCH_REPS"] ?? "") ?? 5
let sizes = CommandLine.arguments.dropFirst().compactMap { Int($0) }

func median(_ values: [Double]) -> Double {
    let s = values.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func chainYAML(_ n: Int) -> String {
    var yaml = "name: chain\nsteps:\n  - id: s0\n    type: transform\n    output: {n: 0}\n"
    for i in 1..<n { yaml += "  - id: s\(i)\n    type: transform\n    output: {n: \(i), prev: \"{{steps.s\(i - 1).output.n}}\"}\n" }
    return yaml + "outputs:\n  last: \"{{steps.s\(n - 1).output.n}}\"\n"
}

/// Visits every scalar and asks its tag, as reading the definition does.
func resolveAll(_ node: Node, _ tag: (Node.Scalar) -> Tag.Name) -> Int {
    var count = 0
    var stack = [node]
    while let next = stack.popLast() {
        switch next {
        case .scalar(let scalar): if tag(scalar) != .str { count += 1 }
        case .mapping(let mapping): for (key, value) in mapping { stack.append(key); stack.append(value) }
        case .sequence(let sequence): stack.append(contentsOf: sequence)
        case .alias: break
        }
    }
    return count
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

print("\(repetitions) interleaved repetitions; medians")
for n in sizes.isEmpty ? [1_000, 10_000, 100_000] : sizes {
    let yaml = chainYAML(n)
    var before: [Double] = [], now: [Double] = [], parse: [Double] = []
    for _ in 0..<repetitions {
        try before.append(seconds {
            let node = try Yams.compose(yaml: yaml)!
            precondition(resolveAll(node) { Tag.Name(rawValue: Node.scalar($0).tag.rawValue) } > 0)
        })
        // YAMLValue.parse composes as the workflow reader does and also builds the JSON value:
        // more work than the left column, counted against it.
        try now.append(seconds { let value = try YAMLValue.parse(yaml, file: "chain.yaml"); precondition(value != .null) })
        try parse.append(seconds { let read = try WorkflowParser().parse(yaml: yaml, file: "chain.yaml"); precondition(read.steps.count == n) })
    }
    print(String(format: "%6d steps: compose+tags, default resolver %.3f s; YAMLValue.parse now %.3f s (%.2fx); whole parse %.3f s",
                 n, median(before), median(now), median(before) / median(now), median(parse)))
}
