import Testing
import WfloCore
import WfloDSL

@Suite struct InputBinderTests {
    static let definition = WorkflowDefinition(
        name: "report",
        inputs: [
            InputDefinition(name: "topic", type: .string),
            InputDefinition(name: "count", type: .integer, defaultValue: 3),
            InputDefinition(name: "ratio", type: .number, defaultValue: .number("0.5")),
            InputDefinition(name: "verbose", type: .boolean, defaultValue: false),
            InputDefinition(name: "tags", type: .array, defaultValue: []),
            InputDefinition(name: "extra", type: .object, defaultValue: [:]),
        ],
        steps: [])

    @Test func defaultsFillWhatIsNotGiven() throws {
        let bound = try InputBinder.bind(Self.definition, arguments: ["topic=tides"], file: nil)
        #expect(bound == ["topic": "tides", "count": 3, "ratio": .number("0.5"), "verbose": false, "tags": [], "extra": [:]])
    }

    @Test(arguments: [
        ("count=7", "count", JSONValue.int(7)),
        ("verbose=true", "verbose", .bool(true)),
        ("verbose=no", "verbose", .bool(false)),
        ("ratio=.25", "ratio", .number("0.25")),
        ("ratio=1.5e-07", "ratio", .number("1.5e-07")),
        ("tags=[\"a\",\"b\"]", "tags", JSONValue.array(["a", "b"])),
        ("extra={\"k\":1}", "extra", JSONValue.object(["k": 1])),
        ("topic=a=b", "topic", JSONValue.string("a=b")),
    ])
    func argumentTextIsConvertedToTheDeclaredType(argument: String, name: String, expected: JSONValue) throws {
        let bound = try InputBinder.bind(Self.definition, arguments: ["topic=x", argument], file: nil)
        #expect(bound[name] == expected)
    }

    @Test(arguments: [
        ("count=three", "--input count=three: input 'count' is an integer (write a whole number such as 3)"),
        ("count=2.5", "--input count=2.5: input 'count' is an integer (write a whole number such as 3)"),
        ("verbose=maybe", "--input verbose=maybe: input 'verbose' is a boolean (write true or false)"),
        ("tags={}", "--input tags={}: input 'tags' is an array (write a JSON array such as [\"a\",\"b\"])"),
        ("topik=x", "--input topik=x: the workflow 'report' has no input 'topik'; did you mean 'topic'?"),
        ("nothing", "--input 'nothing' must be NAME=VALUE, such as --input topic=tides"),
    ])
    func badArgumentIsRefusedNamingTheInput(argument: String, message: String) {
        #expect {
            _ = try InputBinder.bind(Self.definition, arguments: ["topic=x", argument], file: nil)
        } throws: { error in
            (error as? InputError)?.message == message
        }
    }

    @Test func missingRequiredInputSaysWhatToPass() {
        #expect {
            _ = try InputBinder.bind(Self.definition, arguments: [], file: nil)
        } throws: { error in
            "\(error)" == "input 'topic' is required and has no default: pass --input topic=VALUE (a string) or put it in --input-file"
        }
    }

    @Test func inputFileValuesAreBoundAndArgumentsOverrideThem() throws {
        let file = try YAMLValue.parse("""
        topic: reefs
        count: "4"
        tags: [x, y]
        verbose: true
        """, file: "inputs.yaml")
        let bound = try InputBinder.bind(Self.definition, arguments: ["topic=tides"], file: file)
        #expect(bound["topic"] == "tides")
        #expect(bound["count"] == 4)
        #expect(bound["tags"] == ["x", "y"])
        #expect(bound["verbose"] == true)
    }

    @Test func inputFileWithUnknownNameIsRefused() {
        #expect {
            _ = try InputBinder.bind(Self.definition, arguments: [], file: ["topic": "a", "colour": "red"])
        } throws: { error in
            "\(error)" == "the input file: the workflow 'report' has no input 'colour' (its inputs: topic, count, ratio, verbose, tags, extra)"
        }
    }

    @Test func inputFileWithWrongTypeIsRefused() {
        #expect {
            _ = try InputBinder.bind(Self.definition, arguments: [], file: ["topic": "a", "count": "many"])
        } throws: { error in
            "\(error)" == "input 'count' in the input file must be an integer, not \"many\" (write a whole number such as 3)"
        }
    }

    @Test func inputFileThatIsNotAnObjectIsRefused() {
        #expect(throws: InputError.self) {
            _ = try InputBinder.bind(Self.definition, arguments: [], file: ["topic"])
        }
    }

    @Test func inputsDeclaredInYAMLBindWithTheirDefaults() throws {
        let definition = try WorkflowParser().parse(yaml: """
        name: w
        inputs:
          topic: {type: string, default: tides, description: What to write about}
          depth: {type: integer, default: "2"}
          loud: true
          ratio: 0.25
          needed:
        steps:
          - id: a
            type: transform
            output: "{{inputs.topic}}"
        """, file: "w.yaml")
        #expect(definition.inputs == [
            InputDefinition(name: "topic", type: .string, defaultValue: "tides", description: "What to write about"),
            InputDefinition(name: "depth", type: .integer, defaultValue: 2),
            InputDefinition(name: "loud", type: .boolean, defaultValue: true),
            InputDefinition(name: "ratio", type: .number, defaultValue: .number("0.25")),
            InputDefinition(name: "needed", type: .string),
        ])
        let bound = try InputBinder.bind(definition, arguments: ["needed=yes"], file: nil)
        #expect(bound == ["topic": "tides", "depth": 2, "loud": true, "ratio": .number("0.25"), "needed": "yes"])
    }
}
