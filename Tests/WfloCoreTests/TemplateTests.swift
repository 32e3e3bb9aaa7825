import Testing
import WfloCore

struct TemplateTests {
    let scope: JSONValue = ["inputs": ["topic": "batteries", "n": 3], "steps": ["a": ["output": ["text": "hi", "obj": ["k": 1]]]]]

    func resolve(_ path: [String]) throws -> JSONValue {
        guard let v = scope.value(at: path) else { throw TemplateError(message: "missing \(path)", offset: 0) }
        return v
    }

    @Test func interpolatesReferencesIntoText() throws {
        let t = try Template("Write about {{ inputs.topic }} x{{inputs.n}}: {{steps.a.output.text}}")
        #expect(try t.render(resolve) == "Write about batteries x3: hi")
        #expect(t.references == [["inputs", "topic"], ["inputs", "n"], ["steps", "a", "output", "text"]])
    }

    @Test func segmentsAndOffsetsAreFoundInOnePassOverTheText() throws {
        // Offsets count characters (an emoji is one), a brace after a closed pair stays literal
        // text, and tabs and Unicode spaces around a path are trimmed.
        let t = try Template("🔋 {{inputs.topic}}} é{{\u{00A0}inputs.n\t}}")
        #expect(t.segments == [.literal("🔋 "), .reference(path: ["inputs", "topic"], offset: 2), .literal("} é"),
                               .reference(path: ["inputs", "n"], offset: 21)])
        #expect(try t.render(resolve) == "🔋 batteries} é3")
        #expect(try Template("no placeholder } {").segments == [.literal("no placeholder } {")])
        #expect(try Template("").segments.isEmpty)
        #expect(Template.hasPlaceholder("a {{b}}") && !Template.hasPlaceholder("a { {b} }"))
        let unclosed = try #require(throws: TemplateError.self) { try Template("ab {{inputs.topic} }") }
        #expect(unclosed.offset == 3)
    }

    @Test func aLoneReferenceKeepsItsType() throws {
        #expect(try Template("{{steps.a.output.obj}}").render(resolve) == ["k": 1])
        #expect(try Template("{{inputs.n}}").render(resolve) == 3)
    }

    @Test(arguments: ["Hello {{inputs.topic", "{{}}", "{{ inputs. x }}", "{{a..b}}"])
    func rejectsMalformedPlaceholders(text: String) {
        #expect(throws: TemplateError.self) { try Template(text) }
    }

    @Test func stepDependenciesIncludeTemplateReferences() throws {
        let step = StepDefinition(id: "c", dependsOn: ["a"], kind: .transform(TransformStepDefinition(output: .object([
            "x": .template(try Template("{{steps.b.output.text}}")),
            "y": .array([.template(try Template("{{steps.a.output}} {{inputs.topic}}"))]),
        ]))))
        #expect(Set(step.allDependencies) == ["a", "b"])
    }
}
