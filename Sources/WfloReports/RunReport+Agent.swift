import Foundation
import WfloCore

extension RunReport {
    /// The step a journaled id is reported under: `researcher` for `researcher/3/fetch_page`
    /// when `researcher` is an agent step of the run, else the id itself.
    static func owners(_ journal: RunJournal) -> @Sendable (String) -> String {
        owners(agents: Set(journal.steps.filter { $0.type == .agent }.map(\.stepID)))
    }

    /// The line a journaled step counts in: its agent's for an agent's turn or tool call, else its own.
    /// - Parameter agents: the ids of the run's agent steps.
    public static func owners(agents: Set<String>) -> @Sendable (String) -> String {
        { stepID in AgentJournalID.agent(of: stepID, among: agents) ?? stepID }
    }

    /// An agent's turns and tool calls, from the journal: cost and tokens per turn (the input
    /// grows with the conversation), each call's status and cost, cost per tool, and the model
    /// switches its fallbacks made. The step's cost is the sum of what all of these are charged.
    public struct AgentDetail: Sendable, Hashable {
        public struct ToolCall: Sendable, Hashable {
            /// The journal id, `AGENT/TURN/TOOL`.
            public var id: String
            public var tool: String
            public var type: String
            public var status: String
            public var cost: Money
            public var error: String?
        }

        public struct Turn: Sendable, Hashable {
            public var number: Int
            public var model: String?
            public var status: String
            public var usage: TokenUsage
            public var cost: Money
            public var attempts: Int
            /// Charged at their reservation: in flight when a process died.
            public var unsettledAttempts: Int
            public var toolCalls: [ToolCall]
        }

        public struct ToolCost: Sendable, Hashable {
            public var tool: String
            public var calls: Int
            public var cost: Money
        }

        public struct Fallback: Sendable, Hashable {
            public var turn: Int
            public var from: String
            public var to: String
        }

        public var turns: [Turn]
        /// By tool, in order of first use.
        public var tools: [ToolCost]
        public var fallbacks: [Fallback]

        /// What the turns cost (model calls).
        public var turnsCost: Money { turns.map(\.cost).sum() }
        /// What the tool calls cost.
        public var toolsCost: Money { tools.map(\.cost).sum() }

        init(agentID: String, records: [StepRecord], attempts: [AttemptRecord], events: [EventRecord]) {
            let attemptsByID = Dictionary(grouping: attempts, by: \.stepID)
            var turnsByNumber: [Int: Turn] = [:]
            var calls: [(turn: Int, call: ToolCall, started: Date)] = []
            for record in records {
                guard let number = AgentJournalID.turnNumber(of: record.stepID, agent: agentID) else { continue }
                let own = attemptsByID[record.stepID] ?? []
                let cost = own.map(\.charged).sum()
                if let tool = AgentJournalID.toolName(of: record.stepID, agent: agentID) {
                    calls.append((number, ToolCall(id: record.stepID, tool: tool, type: record.type.rawValue, status: record.status.rawValue,
                                                   cost: cost, error: record.error), record.startedAt ?? .distantPast))
                } else {
                    var usage = TokenUsage.zero
                    for attempt in own { if let u = attempt.usage { usage = usage + u } }
                    turnsByNumber[number] = Turn(number: number, model: own.last?.model ?? record.model, status: record.status.rawValue,
                                                 usage: usage, cost: cost, attempts: own.count,
                                                 unsettledAttempts: own.filter { $0.status == .unsettled || $0.status == .running }.count,
                                                 toolCalls: [])
                }
            }
            var tools: [ToolCost] = []
            for (number, call, _) in calls.sorted(by: { ($0.turn, $0.started, $0.call.id) < ($1.turn, $1.started, $1.call.id) }) {
                turnsByNumber[number]?.toolCalls.append(call)
                if let index = tools.firstIndex(where: { $0.tool == call.tool }) {
                    tools[index].calls += 1
                    tools[index].cost += call.cost
                } else {
                    tools.append(ToolCost(tool: call.tool, calls: 1, cost: call.cost))
                }
            }
            turns = turnsByNumber.keys.sorted().compactMap { turnsByNumber[$0] }
            self.tools = tools
            fallbacks = events.filter { $0.stepID == agentID && $0.kind == .agentModelFallback }.compactMap { event in
                guard let turn = event.data["turn"]?.intValue, let from = event.data["from"]?.stringValue,
                      let to = event.data["to"]?.stringValue else { return nil }
                return Fallback(turn: turn, from: from, to: to)
            }
        }

        var json: JSONValue {
            [
                "turns": .array(turns.map { turn in
                    JSONValue.object([
                        "turn": .int(turn.number), "model": turn.model.map { .string($0) } ?? .null, "status": .string(turn.status),
                        "cost_usd": .string(turn.cost.exact()), "attempts": .int(turn.attempts),
                        "unsettled_attempts": .int(turn.unsettledAttempts),
                        "tool_calls": .array(turn.toolCalls.map { call in
                            var object: [String: JSONValue] = ["id": .string(call.id), "tool": .string(call.tool), "type": .string(call.type),
                                                               "status": .string(call.status), "cost_usd": .string(call.cost.exact())]
                            if let error = call.error { object["error"] = .string(error) }
                            return .object(object)
                        }),
                    ]).adding(turn.usage.json)
                }),
                "tools": .array(tools.map { ["tool": .string($0.tool), "calls": .int($0.calls), "cost_usd": .string($0.cost.exact())] }),
                "fallbacks": .array(fallbacks.map { ["turn": .int($0.turn), "from": .string($0.from), "to": .string($0.to)] }),
                "turns_cost_usd": .string(turnsCost.exact()),
                "tools_cost_usd": .string(toolsCost.exact()),
            ]
        }

        /// Table rows under the agent's own row: one per turn, one per tool call under it.
        var tableRows: [[String]] {
            var rows: [[String]] = []
            for turn in turns {
                rows.append(["  turn \(turn.number)", "llm", turn.status + (turn.unsettledAttempts > 0 ? " (unsettled)" : ""),
                             turn.model ?? "-", String(turn.usage.inputTokens), String(turn.usage.cachedInputTokens),
                             String(turn.usage.cacheWriteTokens + turn.usage.cacheWrite1hTokens), String(turn.usage.outputTokens),
                             String(turn.usage.reasoningTokens), turn.cost.formatted(decimals: 6), String(turn.attempts), ""])
                for call in turn.toolCalls {
                    rows.append(["    → \(call.tool)", call.type, call.status, "-", "", "", "", "", "", call.cost.formatted(decimals: 6), "", ""])
                }
            }
            return rows
        }
    }
}
