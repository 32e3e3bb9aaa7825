import Crypto
import Foundation
import Synchronization
import WfloApp
import WfloCore

/// The dashboard's rendered pages of finished runs, each kept with the ``RunChangeMark`` read
/// before it was rendered. A page is served again only for the same mark, which the caller reads
/// on every request (one indexed read), so a run that changed is rendered again at once. At most
/// ``capacity`` pages are kept; when full, the least recently served goes.
final class RunPageCache: Sendable {
    struct Key: Hashable, Sendable {
        /// The run as the URL names it.
        var run: String
        /// The page asked for (`?page=`).
        var page: Int
    }

    /// What a run page shows every session alike (the navigation around it is the session's).
    struct Content: Sendable {
        var title: String
        var body: String
        var live: String
        /// SHA-256 of the body (hex), for the page's ETag.
        var digest: String

        init(title: String, body: String, live: String) {
            self.title = title
            self.body = body
            self.live = live
            digest = TokenService.hex(SHA256.hash(data: Data(body.utf8)))
        }
    }

    private struct Entry {
        var mark: RunChangeMark
        var content: Content
        var used: UInt64
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var clock: UInt64 = 0
    }

    let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int = 256) {
        self.capacity = max(1, capacity)
    }

    /// The kept page for `key` when it was rendered under `mark`; nil otherwise.
    func content(_ key: Key, mark: RunChangeMark) -> Content? {
        state.withLock { state in
            guard var entry = state.entries[key], entry.mark == mark else { return nil }
            state.clock += 1
            entry.used = state.clock
            state.entries[key] = entry
            return entry.content
        }
    }

    /// Keeps `content`, rendered after `mark` was read, for `key`.
    func keep(_ key: Key, mark: RunChangeMark, _ content: Content) {
        state.withLock { state in
            state.clock += 1
            if state.entries[key] == nil, state.entries.count >= capacity,
               let oldest = state.entries.min(by: { $0.value.used < $1.value.used })?.key {
                state.entries.removeValue(forKey: oldest)
            }
            state.entries[key] = Entry(mark: mark, content: content, used: state.clock)
        }
    }

    var count: Int { state.withLock { $0.entries.count } }
}

/// Entity tags of the run routes' answers (`ETag`; `If-None-Match` → 304 Not Modified).
enum ETag {
    /// A strong tag over `parts` (SHA-256, the first 128 bits in hex).
    static func of(_ parts: [String]) -> String {
        var hasher = SHA256()
        for part in parts {
            hasher.update(data: Data(part.utf8))
            hasher.update(data: Data([0]))
        }
        return "\"" + String(TokenService.hex(hasher.finalize()).prefix(32)) + "\""
    }

    /// Whether an `If-None-Match` header names `tag` (or is `*`); weak tags compare weakly, as RFC 9110 says for GET.
    static func matches(_ header: String?, _ tag: String) -> Bool {
        guard let header else { return false }
        let opaque = tag.hasPrefix("W/") ? String(tag.dropFirst(2)) : tag
        for candidate in header.split(separator: ",") {
            let text = candidate.trimmingCharacters(in: .whitespaces)
            if text == "*" { return true }
            if (text.hasPrefix("W/") ? String(text.dropFirst(2)) : text) == opaque { return true }
        }
        return false
    }
}
