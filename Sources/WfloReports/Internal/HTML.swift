import Foundation
import WfloCore

/// Pieces of the self-contained HTML reports: escaping, the page, tables, summary tiles.
///
/// The output is also well-formed XML (void elements closed, numeric character references
/// only), so a strict parser can check it; nothing refers to another file or to the network.
enum HTML {
    /// Escapes text for element content and for attribute values in double or single quotes.
    static func escape(_ text: String) -> String {
        // Most text (ids, numbers, times, names) has nothing to escape: one pass over its bytes, no copy.
        let clean = text.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "&"), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "\""), UInt8(ascii: "'"): false
            case UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"): true
            default: byte >= 0x20
            }
        }
        if clean { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                // Control characters other than tab and newlines are not allowed in HTML or XML text.
                if scalar.value < 0x20 && scalar != "\t" && scalar != "\n" && scalar != "\r" {
                    out += "\u{FFFD}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    /// A complete page: `title` (escaped here) and `body` (already HTML).
    static func document(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8"/>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <title>\(escape(title))</title>
        <style>
        \(css)
        </style>
        </head>
        <body>
        \(body)
        </body>
        </html>

        """
    }

    static let css = """
        :root { color-scheme: light; }
        body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
               margin: 24px auto; max-width: 1120px; padding: 0 16px; color: #1f2328; background: #ffffff; font-size: 14px; }
        h1 { font-size: 22px; margin: 0 0 4px; }
        h2 { font-size: 16px; margin: 28px 0 8px; }
        .sub { color: #59636e; margin: 0 0 16px; }
        .tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(120px, 1fr)); gap: 10px; margin: 12px 0; }
        .tile { border: 1px solid #d1d9e0; border-radius: 6px; padding: 8px 12px; }
        .tile .k { color: #59636e; font-size: 12px; }
        .tile .v { font-size: 17px; font-variant-numeric: tabular-nums; margin-top: 2px; }
        .warn { background: #fff8c5; border: 1px solid #d4a72c; border-radius: 6px; padding: 8px 12px; margin: 12px 0; }
        .err { background: #ffebe9; border: 1px solid #ff8182; border-radius: 6px; padding: 8px 12px; margin: 12px 0; white-space: pre-wrap; }
        .charts { display: grid; grid-template-columns: 1fr; gap: 8px; }
        figure { margin: 0; border: 1px solid #d1d9e0; border-radius: 6px; padding: 8px 12px 4px; }
        figcaption { font-weight: 600; margin-bottom: 4px; }
        svg { display: block; width: 100%; height: auto; }
        svg text { font-family: inherit; font-size: 12px; fill: #1f2328; }
        svg .muted { fill: #59636e; }
        svg .grid { stroke: #e6eaef; stroke-width: 1; }
        svg .axis { stroke: #8c959f; stroke-width: 1; }
        .scroll { overflow-x: auto; }
        table { border-collapse: collapse; width: 100%; margin: 4px 0 8px; font-size: 13px; }
        th, td { border-bottom: 1px solid #e6eaef; padding: 4px 6px; text-align: left; vertical-align: top; }
        th { background: #f6f8fa; font-weight: 600; white-space: nowrap; }
        td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
        tr.total td { font-weight: 600; border-top: 2px solid #d1d9e0; }
        td.wrap { max-width: 420px; overflow-wrap: break-word; }
        .note { color: #59636e; font-size: 12px; margin-top: 20px; }
        """

    /// A table; every cell is escaped here. `numeric` columns are right-aligned; `total` is
    /// a last row drawn apart.
    static func table(header: [String], rows: [[String]], numeric: Set<Int> = [], total: [String]? = nil) -> String {
        func cell(_ tag: String, _ i: Int, _ text: String) -> String {
            let cls = numeric.contains(i) ? " class=\"n\"" : (tag == "td" ? " class=\"wrap\"" : "")
            return "<\(tag)\(cls)>\(escape(text))</\(tag)>"
        }
        var out = "<div class=\"scroll\"><table>\n<thead><tr>" + header.enumerated().map { cell("th", $0, $1) }.joined() + "</tr></thead>\n<tbody>\n"
        for row in rows { out += "<tr>" + row.enumerated().map { cell("td", $0, $1) }.joined() + "</tr>\n" }
        if let total { out += "<tr class=\"total\">" + total.enumerated().map { cell("td", $0, $1) }.joined() + "</tr>\n" }
        return out + "</tbody>\n</table></div>\n"
    }

    /// Summary tiles: (label, value), both escaped here.
    static func tiles(_ items: [(String, String)]) -> String {
        "<div class=\"tiles\">" + items.map { "<div class=\"tile\"><div class=\"k\">\(escape($0.0))</div><div class=\"v\">\(escape($0.1))</div></div>" }
            .joined() + "</div>\n"
    }

    static func figure(_ caption: String, _ svg: String) -> String {
        "<figure><figcaption>\(escape(caption))</figcaption>\n\(svg)</figure>\n"
    }
}
