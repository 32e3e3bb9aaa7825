/// How `wflo report` prints.
///
/// `table` and `markdown` are for people (money rounded to 6 decimals, said in the output);
/// `json` and `csv` are for programs (exact decimal strings; the JSON keys are documented in
/// `docs/report-json.md` and only ever added to); `html` is one self-contained page with
/// inline SVG charts.
public enum ReportFormat: String, Sendable, CaseIterable {
    case table, json, csv, markdown, html
}
