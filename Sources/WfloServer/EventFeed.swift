import Foundation
import Hummingbird
import ServiceLifecycle
import WfloApp
import WfloCore

/// `GET /v1/events`: Server-Sent Events of runs and approval requests as they change.
///
/// The journal stays the truth: the feed reads it every ``interval`` (one page of the newest
/// runs, the pending approval requests) and sends what changed since its last look — `event: run`
/// with the run as `GET /v1/runs/{id}` shows it when it is new or its status changed, `event:
/// approval` with the request as `GET /v1/approvals` does (new ones, and decided ones once). Two
/// reads per quiet look (more only for what changed), so a page left open costs the journal a
/// constant trickle.
/// A comment line every ~15 s keeps proxies from closing an idle stream. The stream ends on
/// graceful shutdown, when the client goes, or after `timeout` seconds when asked (`?timeout=`).
struct EventFeed: Sendable {
    let store: any JournalStore
    let reports: ReportService
    var interval: Duration = .milliseconds(500)
    /// The newest runs watched for changes at each look.
    var watchedRuns = 100
    /// When set, only this run and its approval requests are watched (the dashboard's run page).
    var runID: String?
    /// What the client last saw of some runs (``key(of:)``, the dashboard page's `seen`): a run
    /// that changed between the page and the stream's first look is sent at once, not missed.
    var seen: [String: String] = [:]

    /// What a change is: the stored status and the last update of the run's row.
    static func key(of run: RunRecord) -> String { "\(run.status.rawValue)|\(run.updatedAt.timeIntervalSince1970)" }

    struct Snapshot: Sendable {
        var runs: [String: String] = [:]
        var pending: Set<String> = []
    }

    /// The runs and requests that changed between `old` and now, as SSE frames, and the new snapshot.
    func look(after old: Snapshot?) async throws -> (frames: [String], snapshot: Snapshot) {
        var snapshot = Snapshot()
        var frames: [String] = []
        let watched: [RunRecord]
        if let runID {
            watched = try await store.run(id: runID).map { [$0] } ?? []
        } else {
            watched = try await store.runPage(RunPageQuery(limit: watchedRuns))
        }
        for run in watched {
            let key = Self.key(of: run)
            snapshot.runs[run.id] = key
            if let old, old.runs[run.id] != key { frames.append(Self.frame("run", JSONShapes.run(try await reports.listing(of: run)))) }
        }
        let pending = try await store.approvals(runID: runID, status: .pending)
        snapshot.pending = Set(pending.map(\.id))
        if let old {
            for request in pending where !old.pending.contains(request.id) { frames.append(Self.frame("approval", JSONShapes.approval(request))) }
            for id in old.pending.subtracting(snapshot.pending).sorted() {
                if let request = try await store.approval(id: id) { frames.append(Self.frame("approval", JSONShapes.approval(request))) }
            }
        }
        return (frames, snapshot)
    }

    static func frame(_ event: String, _ data: JSONValue) -> String {
        "event: \(event)\ndata: \(data.encoded(sorted: true))\n\n"
    }

    func response(timeout: Double?) -> Response {
        let feed = self
        let body = ResponseBody { writer in
            let clock = ContinuousClock()
            let start = clock.now
            let end = timeout.map { start + .milliseconds(Int64($0 * 1000)) }
            var snapshot = try await feed.look(after: nil).snapshot
            for (run, key) in feed.seen where snapshot.runs[run] != nil { snapshot.runs[run] = key }
            var lastWrite = clock.now
            try await writer.write(ByteBuffer(string: ": wflo events\n\n"))
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                if let end, clock.now >= end { break }
                try await Task.sleep(for: feed.interval)
                let (frames, next) = try await feed.look(after: snapshot)
                snapshot = next
                if !frames.isEmpty {
                    try await writer.write(ByteBuffer(string: frames.joined()))
                    lastWrite = clock.now
                } else if clock.now - lastWrite > .seconds(15) {
                    try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                    lastWrite = clock.now
                }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }
}
