import CYaml

/// Composes YAML text into a ``Node`` tree straight from libyaml's events (the C parser Yams
/// wraps), one document, aliases replaced by the value their anchor names.
///
/// Yams' composer builds a tag object, an anchor slot and a resolver reference into every value
/// and checks a mapping's keys by hashing whole nodes; for a 100,000-step workflow that was a
/// quarter of `wflo validate`'s time and a third of its memory. This one keeps what the reader
/// uses and walks the events with a stack of its own (no recursion, however deep the nesting).
///
/// On any problem it only says where it stopped: ``YAMLValue/compose(_:file:)`` then asks Yams
/// for the error, so a syntax error reads the same as it always has.
///
/// `CYaml` is the C module of the Yams package (its libyaml), built for Yams and imported here
/// through WfloDSL's dependency on Yams: the package offers no product of its own for it.
enum YAMLComposer {
    /// Why composing stopped: libyaml refused the text, an alias names no anchor, a mapping
    /// repeats a key, or the stream holds a second document.
    struct Failure: Error {
        let problem: String
        let mark: Mark
    }

    /// - Parameter step: when given, each item of the root mapping's `steps:` list is handed to it
    ///   as soon as it is composed and is not kept in the tree (that list comes back empty): the
    ///   reader reads each step then, and a long workflow is never whole in memory.
    /// - Returns: the document's root, or nil for a text with no document (empty, or comments only).
    static func compose(_ text: String, step: ((Node) -> Void)? = nil) throws(Failure) -> Node? {
        var copy = text
        let result: Result<Node?, Failure> = copy.withUTF8 { bytes in
            // libyaml keeps a pointer to its parser inside it (the string reader's handler data):
            // the parser lives at one address from its initialization to its deletion.
            let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
            defer { parser.deallocate() }
            parser.initialize(to: yaml_parser_t())
            guard yaml_parser_initialize(parser) == 1 else {
                return .failure(Failure(problem: "out of memory", mark: Mark(line: 1, column: 1)))
            }
            defer { yaml_parser_delete(parser) }
            yaml_parser_set_encoding(parser, YAML_UTF8_ENCODING)
            yaml_parser_set_input_string(parser, bytes.baseAddress, bytes.count)
            var walk = Walk(step: step)
            do throws(Failure) {
                return .success(try walk.run(parser))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// A mapping or sequence whose end event has not come yet; its values so far sit on the
    /// walk's shared stacks from `start` on.
    private struct Open {
        let isMapping: Bool
        let mark: Mark
        let anchor: String?
        let start: Int
        var pendingKey: Node?
    }

    private struct Walk {
        let step: ((Node) -> Void)?
        var stack: [Open] = []
        /// The values of every open sequence, innermost last; a closed one takes its own out in
        /// an array of exactly its size (appending to each collection's own array left most
        /// with a third of their room unused: 64 MB for a 100,000-step workflow).
        var values: [Node] = []
        var pairs: [(key: Node, value: Node)] = []
        var anchors: [String: Node] = [:]
        var root: Node?
        var documents = 0

        init(step: ((Node) -> Void)?) {
            self.step = step
        }

        mutating func run(_ parser: UnsafeMutablePointer<yaml_parser_t>) throws(Failure) -> Node? {
            var event = yaml_event_t()
            while true {
                guard yaml_parser_parse(parser, &event) == 1 else {
                    let problem = parser.pointee.problem.map { String(cString: $0) } ?? "YAML syntax error"
                    let mark = parser.pointee.problem_mark
                    throw Failure(problem: problem, mark: Mark(line: mark.line + 1, column: mark.column + 1))
                }
                defer { yaml_event_delete(&event) }
                let mark = Mark(line: event.start_mark.line + 1, column: event.start_mark.column + 1)
                switch event.type {
                case YAML_STREAM_END_EVENT:
                    return root
                case YAML_DOCUMENT_START_EVENT:
                    documents += 1
                    if documents > 1 { throw Failure(problem: "expected a single document in the stream but found another document", mark: mark) }
                case YAML_SCALAR_EVENT:
                    let scalar = event.data.scalar
                    var bytes = UnsafeBufferPointer(start: scalar.value, count: scalar.length)
                    // A value's leading byte order mark is dropped, as Foundation's decoding (Yams') drops it.
                    if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF {
                        bytes = UnsafeBufferPointer(rebasing: bytes[3...])
                    }
                    let string = String(decoding: bytes, as: UTF8.self)
                    let tag = scalar.quoted_implicit == 1 ? Node.Scalar.Tag.string : Self.text(scalar.tag).map(Node.Scalar.Tag.init)
                    let style = Node.Scalar.Style(rawValue: UInt8(truncatingIfNeeded: scalar.style.rawValue)) ?? .any
                    let node = Node.scalar(Node.Scalar(string, tag: tag, style: style, at: mark))
                    if let anchor = Self.text(scalar.anchor) { anchors[anchor] = node }
                    try add(node)
                case YAML_ALIAS_EVENT:
                    guard let name = Self.text(event.data.alias.anchor), let node = anchors[name] else {
                        throw Failure(problem: "found undefined alias", mark: mark)
                    }
                    try add(node)
                case YAML_SEQUENCE_START_EVENT:
                    stack.append(Open(isMapping: false, mark: mark, anchor: Self.text(event.data.sequence_start.anchor), start: values.count))
                case YAML_MAPPING_START_EVENT:
                    stack.append(Open(isMapping: true, mark: mark, anchor: Self.text(event.data.mapping_start.anchor), start: pairs.count))
                case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                    guard let open = stack.popLast() else { break }
                    let node: Node
                    if open.isMapping {
                        let own = Array(pairs[open.start...])
                        pairs.removeSubrange(open.start...)
                        try Self.checkKeys(own)
                        node = .mapping(Node.Mapping(own, at: open.mark))
                    } else {
                        let own = Array(values[open.start...])
                        values.removeSubrange(open.start...)
                        node = .sequence(Node.Sequence(own, at: open.mark))
                    }
                    if let anchor = open.anchor { anchors[anchor] = node }
                    try add(node)
                default:
                    break
                }
            }
        }

        /// Puts a finished value where it belongs: the root, the open sequence, or the open
        /// mapping's key or value.
        mutating func add(_ node: Node) throws(Failure) {
            guard !stack.isEmpty else {
                root = node
                return
            }
            let top = stack.count - 1
            if !stack[top].isMapping {
                if let step, top == 1, stack[0].isMapping, stack[0].pendingKey?.string == "steps" {
                    step(node)
                    return
                }
                values.append(node)
            } else if let key = stack[top].pendingKey {
                pairs.append((key: key, value: node))
                stack[top].pendingKey = nil
            } else {
                stack[top].pendingKey = node
            }
        }

        /// A key a mapping repeats (text and tag alike; a quoted key and a plain one are the
        /// same key, as Yams composes them without tag rules).
        static func checkKeys(_ pairs: [(key: Node, value: Node)]) throws(Failure) {
            guard pairs.count > 1 else { return }
            func identity(_ node: Node) -> String? {
                guard case .scalar(let scalar) = node else { return nil }
                let tag = scalar.tag?.name ?? Node.Scalar.Tag.string.name
                return tag == Node.Scalar.Tag.string.name ? scalar.string : tag + " " + scalar.string
            }
            if pairs.count <= 8 {
                for i in 1..<pairs.count {
                    guard let key = identity(pairs[i].key) else { continue }
                    for j in 0..<i where identity(pairs[j].key) == key {
                        throw Failure(problem: "duplicate key '\(key)' in a mapping", mark: pairs[i].key.mark ?? Mark(line: 1, column: 1))
                    }
                }
                return
            }
            var seen = Set<String>(minimumCapacity: pairs.count)
            for pair in pairs {
                guard let key = identity(pair.key) else { continue }
                if !seen.insert(key).inserted {
                    throw Failure(problem: "duplicate key '\(key)' in a mapping", mark: pair.key.mark ?? Mark(line: 1, column: 1))
                }
            }
        }

        static func text(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
            pointer.map { String(cString: $0) }
        }
    }
}
