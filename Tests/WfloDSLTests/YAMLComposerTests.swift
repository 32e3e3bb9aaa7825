import Foundation
import Testing
@testable import WfloDSL
import WfloTesting
import Yams

/// ``YAMLComposer`` (libyaml's events straight into wflo's lean tree) against Yams' composer,
/// which wflo used before: the same documents must give the same values, texts, styles, tags
/// and places, and a text one refuses the other refuses too. Seeds plus thousands of mutants.
struct YAMLComposerTests {
    static let seeds: [String] = [
        "name: w\nsteps:\n  - id: a\n    type: transform\n    output: {n: 1, prev: \"{{steps.x.output.n}}\"}\n",
        "a: &x {k: [1, 2, 'three']}\nb: *x\nc: !!str 12\nd: !!int '7'\ne: ~\nf: 'q''uote'\ng: \"esc\\n\\u00e9\"\n",
        "text: |\n  line one\n  line two\nfolded: >\n  a\n  b\nlist:\n- x\n- - nested\n  - deeper\n- {a: b}\n",
        "? complex key\n: value\n\"quoted key\": 1\nplain: yes\nempty:\nnull_word: null\nnumbers: [0x1F, 1_000, .5, -3, +2.5e3, 012]\n",
        "# only a comment\n",
        "",
        "---\nstarts: with a marker\n...\n",
        "é: ünïcödé — value\n'tab\there': 2\nlong: " + String(repeating: "x", count: 300) + "\n",
        "a: 1\nb:\n  c:\n    d:\n      e: [f, {g: h}]\n",
        "anchors: [&a one, *a, &b {x: *a}, *b]\n",
    ]

    /// A plain scalar's tag as compared: "?" for none or the string tag. Yams' duplicate-key
    /// check resolves the tags of scalars in keys (and of their aliased copies) to the string tag
    /// in place; without tag rules that means the same. `!!str` on a plain scalar is tested
    /// through the values it gives (`aSeedComposesAsYamsComposesIt`).
    static func shown(tag: String?, plain: Bool) -> String {
        guard let tag, !(plain && tag == "tag:yaml.org,2002:str") else { return "?" }
        return tag
    }

    /// One tree as comparable text: every value with its place, style and tag.
    static func shape(_ node: WfloDSL.Node) -> String {
        switch node {
        case .scalar(let scalar):
            let tag = shown(tag: scalar.tag?.name, plain: scalar.style == .plain)
            return "S(\(scalar.mark!.line):\(scalar.mark!.column) \(scalar.style.rawValue) \(tag) \(scalar.string.debugDescription))"
        case .mapping(let mapping):
            return "M(\(mapping.mark!.line):\(mapping.mark!.column) " + mapping.map { shape($0.key) + "=" + shape($0.value) }.joined(separator: ",") + ")"
        case .sequence(let sequence):
            return "Q(\(sequence.mark!.line):\(sequence.mark!.column) " + sequence.map(shape).joined(separator: ",") + ")"
        }
    }

    /// Yams' tree as the same text.
    static func shape(_ node: Yams.Node) -> String {
        switch node {
        case .scalar(let scalar):
            let tag = shown(tag: scalar.tag.description.isEmpty ? nil : scalar.tag.description, plain: scalar.style == .plain)
            return "S(\(scalar.mark!.line):\(scalar.mark!.column) \(scalar.style.rawValue) \(tag) \(scalar.string.debugDescription))"
        case .mapping(let mapping):
            return "M(\(mapping.mark!.line):\(mapping.mark!.column) " + mapping.map { shape($0.key) + "=" + shape($0.value) }.joined(separator: ",") + ")"
        case .sequence(let sequence):
            return "Q(\(sequence.mark!.line):\(sequence.mark!.column) " + sequence.map { shape($0) }.joined(separator: ",") + ")"
        case .alias:
            return "A"
        }
    }

    /// Both composers on one text: nil when both refuse it, else both trees' shapes.
    /// A text whose aliases expand past a small budget is left out (nil, as if both refused it):
    /// a mutant that repeats an anchored line can nest aliases into a "billion laughs", which
    /// `YAMLValue.compose` refuses and these shapes would spell out.
    static func compare(_ text: String) -> (ours: String, yams: String)? {
        let ours: String?
        do {
            let node = try YAMLComposer.compose(text)
            if let node {
                do { try YAMLValue.checkExpansion(node, budget: 20_000, file: "w.yaml") } catch { return nil }
            }
            ours = node.map(shape) ?? "none"
        } catch {
            ours = nil
        }
        let yams: String?
        do { yams = try Yams.compose(yaml: text, .basic).map { shape($0) } ?? "none" } catch { yams = nil }
        if ours == nil, yams == nil { return nil }
        return (ours ?? "refused", yams ?? "refused")
    }

    @Test(arguments: seeds)
    func aSeedComposesAsYamsComposesIt(text: String) {
        guard let (ours, yams) = Self.compare(text) else {
            Issue.record("both refused a seed: \(text.debugDescription)")
            return
        }
        #expect(ours == yams)
    }

    /// A quoted scalar is text whatever its tag (as before the composer changed).
    @Test func explicitTagsAndQuotesDecideAValuesType() throws {
        let value = try YAMLValue.parse("a: !!str 12\nb: 12\nc: '12'\nd: !!int '7'\ne: ~\nf: yes\n", file: "w.yaml")
        #expect(value == .object(["a": .string("12"), "b": .number("12"), "c": .string("12"), "d": .string("7"), "e": .null, "f": .bool(true)]))
    }

    @Test func mutantsComposeAsYamsComposesThemOrBothAreRefused() {
        var refused = 0, composed = 0
        for (index, seed) in Self.seeds.enumerated() {
            var mutator = Mutator(seed: 0x5EED_C0DE &+ UInt64(index))
            for _ in 0..<250 {
                // Yams reads a String; a mutant that is not UTF-8 never reaches a composer.
                guard let text = String(validating: mutator.mutate(Array(seed.utf8)), as: UTF8.self) else { continue }
                guard let (ours, yams) = Self.compare(text) else { refused += 1; continue }
                composed += 1
                #expect(ours == yams, "\(text.debugDescription)")
            }
        }
        // The mutants must exercise both sides: texts both read and texts both refuse.
        #expect(refused > 100 && composed > 800, "refused \(refused), composed \(composed)")
    }

    @Test func anUndefinedAliasASecondDocumentAndARepeatedKeyAreRefusedWithYamsWords() throws {
        func diagnostic(_ text: String) -> String {
            do {
                _ = try YAMLValue.compose(text, file: "w.yaml")
                return "accepted"
            } catch {
                return error.diagnostics.map(\.description).joined(separator: "\n")
            }
        }
        #expect(diagnostic("a: *nowhere\n") == "w.yaml:1:4: error: YAML syntax: found undefined alias")
        #expect(diagnostic("a: 1\n---\nb: 2\n").contains("w.yaml:2:1: error: YAML syntax: but found another document"))
        #expect(diagnostic("a: 1\nb: 2\na: 3\n") == "w.yaml:3:1: error: duplicate key 'a' in a mapping; each key may appear once")
        #expect(diagnostic("a: [1, 2\n").hasPrefix("w.yaml:2:1: error: YAML syntax:"))
    }

    /// With a step handler, each item of the root mapping's `steps:` list is handed over as it is
    /// composed, in file order, and not kept: the tree's list comes back empty, so the reader can
    /// drop each step once read. A `steps:` anywhere else (under another key, inside a step) stays.
    @Test
    func theRootsStepsAreHandedOverOneByOneAndNotKeptInTheTree() throws {
        let text = """
            name: w
            inputs:
              steps: [kept]
            steps:
              - id: a
                type: transform
                output: {steps: [inner]}
              - plain item
              - id: b
            outputs: {n: 1}
            """
        var handed: [String] = []
        let root = try #require(try YAMLComposer.compose(text, step: { handed.append(Self.shape($0)) }))
        let whole = try #require(try YAMLComposer.compose(text))
        guard case .mapping(let kept) = root, case .mapping(let all) = whole,
              case .sequence(let listed)? = all.first(where: { $0.key.string == "steps" })?.value else {
            Issue.record("not a mapping with a steps list: \(Self.shape(root))")
            return
        }
        #expect(handed == listed.map(Self.shape))
        #expect(handed.count == 3 && handed[0].contains("\"inner\""))
        // The tree is the whole one but for the root's list, which is empty (its place kept).
        for (pair, whole) in zip(kept, all) {
            if pair.key.string == "steps" {
                guard case .sequence(let empty) = pair.value else { Issue.record("steps is not a list"); continue }
                #expect(empty.isEmpty && empty.mark == listed.mark)
            } else {
                #expect(Self.shape(pair.value) == Self.shape(whole.value))
            }
        }
        #expect(Self.shape(kept.first { $0.key.string == "inputs" }!.value).contains("\"kept\""))
    }
}
