import WfloCore

extension DefinitionReader {
    /// Checks what only the whole workflow can tell: every `depends_on` and template reference
    /// names something that exists, and no step waits, directly or not, for itself. Steps
    /// resolved while they were read (``waitsAreKnown(_:seen:)``) are not looked at again.
    mutating func checkGraph(_ list: inout StepsReading, inputs: [InputDefinition], outputSites: [TemplateSite]) {
        for draft in list.drafts where draft.waits == nil { resolveWaits(of: draft, in: &list, inputs: inputs) }
        // A step a switch routes to waits for the switch.
        var routed: [Int: [Int]] = [:]
        for (position, draft) in list.drafts.enumerated() {
            guard case .switch(let s)? = list.definition(of: draft)?.kind else { continue }
            for target in s.targets {
                guard let targetPosition = list.seen[target], targetPosition != position,
                      !list.waits(of: targetPosition).contains(position), !(routed[targetPosition] ?? []).contains(position)
                else { continue }
                routed[targetPosition, default: []].append(position)
            }
        }
        _ = checkReferences(outputSites, inputs: inputs, steps: list, selfID: nil)

        let cycles = DependencyGraph(ids: list.drafts.map(\.id)) { position in
            Array(list.waits(of: position)) + (routed[position] ?? [])
        }.cycles()
        for cycle in cycles {
            let mark = list.seen[cycle[0]].map { list.drafts[$0].mark }
            error(at: location(mark), "dependency cycle: \(cycle.joined(separator: " → ")) (through depends_on and "
                  + "{{steps.…}} references); a step cannot wait for its own result")
        }
    }

    /// True when everything `draft` may wait for is in `seen`: its `depends_on` items and the
    /// steps its templates name. A reference to an input is never known yet (`inputs:` may follow `steps:`).
    static func waitsAreKnown(_ draft: StepDraft, seen: [String: Int]) -> Bool {
        draft.dependsOn.allSatisfy { seen[$0.id] != nil } && draft.templates.allSatisfy { site in
            site.template.segments.allSatisfy { segment in
                guard case .reference(let path, _) = segment else { return true }
                switch path[0] {
                case "inputs": return false
                case "steps": return path.count < 2 || seen[path[1]] != nil
                default: return true
                }
            }
        }
    }

    /// What `draft` waits for: its `depends_on` items and the steps its templates reference, each
    /// checked (a name no step has is reported), as positions appended to `list.waitTargets`; its
    /// templates and `depends_on` items are dropped then.
    mutating func resolveWaits(of draft: StepDraft, in list: inout StepsReading, inputs: [InputDefinition]) {
        let start = list.waitTargets.count
        var waitsFor = Set<Int>()
        for dependency in draft.dependsOn {
            if dependency.id == draft.id {
                error(dependency.node, "step '\(draft.id)' depends on itself")
            } else if let position = list.seen[dependency.id] {
                if waitsFor.insert(position).inserted { list.waitTargets.append(position) }
            } else {
                error(dependency.node, "step '\(draft.id)' depends on unknown step '\(dependency.id)'"
                      + Suggestion.phrase(for: dependency.id, in: list.drafts.map(\.id)))
            }
        }
        for position in checkReferences(draft.templates, inputs: inputs, steps: list, selfID: draft.id)
        where waitsFor.insert(position).inserted {
            list.waitTargets.append(position)
        }
        draft.waits = start..<list.waitTargets.count
        draft.templates = []
        draft.dependsOn = []
    }

    /// Reports every reference that names no declared input, no other existing step's output,
    /// and no secret. Returns the positions of the steps referenced (that exist and are not `selfID`),
    /// one lookup per reference whatever the number of steps.
    mutating func checkReferences(_ sites: [TemplateSite], inputs: [InputDefinition], steps: StepsReading,
                                  selfID: String?) -> [Int] {
        var referenced: [Int] = []
        var referencedSet = Set<Int>()
        let inputNames = inputs.map(\.name)
        let declaredInputs = Set(inputNames)
        for site in sites {
            for segment in site.template.segments {
                guard case .reference(let path, let offset) = segment else { continue }
                // Placed and spelled only when reported: most references are fine.
                let node = site.node
                var shownPath: String { "{{\(path.joined(separator: "."))}}" }
                switch path[0] {
                case "inputs":
                    guard path.count >= 2 else {
                        error(node, offset: offset, "\(shownPath) needs an input name: {{inputs.NAME}}")
                        continue
                    }
                    if !declaredInputs.contains(path[1]) {
                        var message = "\(shownPath): the workflow declares no input '\(path[1])'"
                        let suggestion = Suggestion.phrase(for: path[1], in: inputNames)
                        if !suggestion.isEmpty {
                            message += suggestion
                        } else if inputNames.isEmpty {
                            message += "; declare it under 'inputs:'"
                        } else {
                            message += " (declared: \(inputNames.joined(separator: ", ")))"
                        }
                        error(node, offset: offset, message)
                    }
                case "steps":
                    guard path.count >= 3, path[2] == "output" || (path[2] == "status" && path.count == 3) else {
                        let id = path.count >= 2 ? path[1] : "ID"
                        error(node, offset: offset, "\(shownPath): a step reference starts with steps.ID.output, as in {{steps.\(id).output.text}} (or is {{steps.\(id).status}}: completed or skipped)")
                        continue
                    }
                    let id = path[1]
                    if id == selfID {
                        error(node, offset: offset, "\(shownPath): step '\(id)' cannot use its own output")
                    } else if let position = steps.seen[id] {
                        if referencedSet.insert(position).inserted { referenced.append(position) }
                    } else {
                        error(node, offset: offset, "\(shownPath): there is no step '\(id)'" + Suggestion.phrase(for: id, in: steps.drafts.map(\.id)))
                    }
                case "secrets":
                    // Only an http step's request (url, query, headers, body, json) may carry a secret: in a
                    // prompt it would reach the model, in a transform, output or fallback the journal, in
                    // clear. The engine refuses it too.
                    if !site.allowsSecrets {
                        error(node, offset: offset, "\(shownPath): secrets are only for http steps; in a prompt or a transform they would reach the model or the journal in clear")
                    } else if path.count != 2 || !path[1].unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_") }) {
                        error(node, offset: offset, "\(shownPath): write {{secrets.NAME}}, NAME made of letters, digits and '_' (read from WFLO_SECRET_NAME or ~/.wflo/secrets)")
                    }
                case "for_each":
                    guard let itemVar = site.forEachVar else {
                        error(node, offset: offset, "\(shownPath): {{for_each.…}} is only for the fields and the 'if:' of a step with 'for_each:' (not for its items)")
                        continue
                    }
                    if path.count < 2 || (path[1] != itemVar && path[1] != "index") {
                        error(node, offset: offset, "\(shownPath): write {{for_each.\(itemVar)}} for the item (its 'item_var') or {{for_each.index}} for its position")
                    }
                case "args" where site.allowsArgs:
                    guard path.count >= 2 else {
                        error(node, offset: offset, "\(shownPath) needs an argument name: {{args.NAME}}")
                        continue
                    }
                    if let names = site.argNames, !names.contains(path[1]) {
                        error(node, offset: offset, "\(shownPath): the tool's 'parameters' declares no argument '\(path[1])'"
                              + (Suggestion.phrase(for: path[1], in: names).isEmpty ? " (declared: \(names.joined(separator: ", ")))" : Suggestion.phrase(for: path[1], in: names)))
                    }
                case "args":
                    error(node, offset: offset, "\(shownPath): {{args.NAME}} is only for the fields of an agent's tools, where it is the argument the model passed")
                default:
                    error(node, offset: offset, "\(shownPath): unknown reference '\(path[0])'; a template may use {{inputs.NAME}} "
                          + "or {{steps.ID.output…}}"
                          + Suggestion.phrase(for: path[0], in: ["inputs", "steps"]))
                }
            }
        }
        return referenced
    }
}
