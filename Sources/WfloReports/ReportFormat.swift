/// How `wflo report` prints.
public enum ReportFormat: String, Sendable, CaseIterable {
    case table, json, csv, markdown
}
