/// A composed YAML value as the workflow reader needs it: scalars with their text, style, tag and
/// place in the file; mappings and sequences with theirs. Aliases are already the value their
/// anchor names (see ``YAMLComposer``).
///
/// Leaner than Yams' `Node` on purpose: no tag object, anchor or resolver per value, and places
/// kept as two 32-bit numbers, so a 100,000-step workflow's tree is a fraction of Yams' (which
/// was ~150 MB of the 450 MB `wflo validate` peaked at). Its API keeps the shape of Yams' so
/// the reader reads either the same way.
enum Node {
    case scalar(Scalar)
    case mapping(Mapping)
    case sequence(Sequence)

    /// Where the value starts in the file (1-based); optional as in Yams, and always set.
    var mark: Mark? {
        switch self {
        case .scalar(let scalar): return scalar.mark
        case .mapping(let mapping): return mapping.mark
        case .sequence(let sequence): return sequence.mark
        }
    }

    var scalar: Scalar? {
        if case .scalar(let scalar) = self { return scalar }
        return nil
    }

    var mapping: Mapping? {
        if case .mapping(let mapping) = self { return mapping }
        return nil
    }

    /// A scalar's text; nil for a mapping or a sequence.
    var string: String? {
        if case .scalar(let scalar) = self { return scalar.string }
        return nil
    }
}

/// A line and column in a file, 1-based; columns count Unicode scalars, as libyaml counts them.
struct Mark: Hashable {
    private let storedLine: Int32
    private let storedColumn: Int32

    init(line: Int, column: Int) {
        storedLine = Int32(clamping: line)
        storedColumn = Int32(clamping: column)
    }

    var line: Int { Int(storedLine) }
    var column: Int { Int(storedColumn) }
}

extension Node {
    struct Scalar {
        /// How the scalar was written (the raw values are libyaml's).
        enum Style: UInt8 {
            case any = 0, plain, singleQuoted, doubleQuoted, literal, folded
        }

        /// An explicit tag; a reference, so a scalar without one spends a word on it, not a string.
        final class Tag: Sendable {
            let name: String
            init(_ name: String) { self.name = name }
            /// What libyaml's quoted scalars resolve to (Yams' `Tag.Name.str`); one shared instance.
            static let string = Tag("tag:yaml.org,2002:str")
        }

        let string: String
        /// The explicit tag written (`!!int 3`), ``Tag/string`` for a quoted scalar, nil for a
        /// plain scalar without one (its type is resolved from its text).
        let tag: Tag?
        let style: Style
        private let place: Mark

        init(_ string: String, tag: Tag? = nil, style: Style = .plain, at place: Mark? = nil) {
            self.string = string
            self.tag = tag
            self.style = style
            self.place = place ?? Mark(line: 1, column: 1)
        }

        var mark: Mark? { place }
    }

    /// A mapping's entries in the file's order (keys are unique: the composer refuses a repeat).
    typealias Mapping = Children<(key: Node, value: Node)>
    typealias Sequence = Children<Node>

    /// A mapping's or a sequence's values and where it starts.
    struct Children<Element>: RandomAccessCollection {
        let elements: [Element]
        private let place: Mark

        init(_ elements: [Element], at place: Mark?) {
            self.elements = elements
            self.place = place ?? Mark(line: 1, column: 1)
        }

        var mark: Mark? { place }
        var startIndex: Int { elements.startIndex }
        var endIndex: Int { elements.endIndex }
        subscript(position: Int) -> Element { elements[position] }
    }
}
