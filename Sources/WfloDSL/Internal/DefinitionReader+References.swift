import WfloCore

extension DefinitionReader {
    /// Checks what only the whole workflow can tell: every `depends_on` and template reference
    /// names something that exists, and no step waits, directly or not, for itself.
    mutating func checkGraph(_ drafts: [StepDraft], inputs: [InputDefinition], outputSites: [TemplateSite]) {
        let ids = drafts.map { $0.id }
        let known = Set(ids)
        var edges: [String: [String]] = [:]
        for draft in drafts {
            var waitsFor: [String] = []
            var waitsForSet = Set<String>()
            for dependency in draft.dependsOn {
                if dependency.id == draft.id {
                    error(dependency.node, "step '\(draft.id)' depends on itself")
                } else if known.contains(dependency.id) {
                    if waitsForSet.insert(dependency.id).inserted { waitsFor.append(dependency.id) }
                } else {
                    error(dependency.node, "step '\(draft.id)' depends on unknown step '\(dependency.id)'"
                          + Suggestion.phrase(for: dependency.id, in: ids))
                }
            }
            for referenced in checkReferences(draft.templates, inputs: inputs, stepIDs: ids, known: known, selfID: draft.id)
            where waitsForSet.insert(referenced).inserted {
                waitsFor.append(referenced)
            }
            edges[draft.id] = waitsFor
        }
        // A step a switch routes to waits for the switch.
        for draft in drafts {
            guard case .switch(let s)? = draft.definition?.kind else { continue }
            for target in s.targets where known.contains(target) && target != draft.id && !(edges[target] ?? []).contains(draft.id) {
                edges[target, default: []].append(draft.id)
            }
        }
        _ = checkReferences(outputSites, inputs: inputs, stepIDs: ids, known: known, selfID: nil)

        let cycles = DependencyGraph(ids: ids, edges: edges).cycles()
        guard !cycles.isEmpty else { return }
        let marks = Dictionary(drafts.map { ($0.id, $0.mark) }, uniquingKeysWith: { first, _ in first })
        for cycle in cycles {
            error(at: location(marks[cycle[0]]), "dependency cycle: \(cycle.joined(separator: " → ")) (through depends_on and "
                  + "{{steps.…}} references); a step cannot wait for its own result")
        }
    }

    /// Reports every reference that names no declared input, no other existing step's output,
    /// and no secret. Returns the ids of the steps referenced (that exist and are not `selfID`).
    /// `known` is `stepIDs` as a set: one lookup per reference, whatever the number of steps.
    mutating func checkReferences(_ sites: [TemplateSite], inputs: [InputDefinition], stepIDs: [String],
                                  known: Set<String>, selfID: String?) -> [String] {
        var referenced: [String] = []
        var referencedSet = Set<String>()
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
                    } else if !known.contains(id) {
                        error(node, offset: offset, "\(shownPath): there is no step '\(id)'" + Suggestion.phrase(for: id, in: stepIDs))
                    } else if referencedSet.insert(id).inserted {
                        referenced.append(id)
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
