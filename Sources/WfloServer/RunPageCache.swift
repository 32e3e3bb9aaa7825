import Crypto
import Foundation
import Synchronization
import WfloApp
import WfloCore

/// The dashboard's rendered pages of finished runs, each kept with the ``RunChangeMark`` read
/// before it was rendered. A page is served again only for the same mark, which the caller reads
/// on every request (one indexed read), so a run that changed is rendered again at once. At most
/// ``capacity`` pages and ``maximumBytes`` of their text are kept; when either is full, the least
/// recently served go first. A page larger than a quarter of ``maximumBytes`` is not kept (it is
/// rendered per request, as it would be without the cache), so one huge run cannot push out all
/// the others.
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
        /// What keeping it costs: the UTF-8 bytes of its texts.
        var bytes: Int { title.utf8.count + body.utf8.count + live.utf8.count + digest.utf8.count }

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
        var bytes = 0
    }

    let capacity: Int
    let maximumBytes: Int
    private let state = Mutex(State())

    /// - Parameters:
    ///   - capacity: the most pages kept.
    ///   - maximumBytes: the most bytes of page text kept (64 MiB by default: 256 pages of a
    ///     run with a few hundred steps, or a few of the largest pages).
    init(capacity: Int = 256, maximumBytes: Int = 64 << 20) {
        self.capacity = max(1, capacity)
        self.maximumBytes = max(1, maximumBytes)
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
        let size = content.bytes
        state.withLock { state in
            state.clock += 1
            if let old = state.entries.removeValue(forKey: key) { state.bytes -= old.content.bytes }
            guard size <= maximumBytes / 4 else { return }
            while !state.entries.isEmpty, state.entries.count >= capacity || state.bytes + size > maximumBytes,
                  let oldest = state.entries.min(by: { $0.value.used < $1.value.used })?.key {
                state.bytes -= state.entries.removeValue(forKey: oldest)?.content.bytes ?? 0
            }
            state.entries[key] = Entry(mark: mark, content: content, used: state.clock)
            state.bytes += size
        }
    }

    var count: Int { state.withLock { $0.entries.count } }

    /// The bytes of page text kept now.
    var bytes: Int { state.withLock { $0.bytes } }
}

/// Entity tags of the run routes' answers (`ETag`; `If-None-Match` → 304 Not Modified).
enum ETag {
    /// A strong tag over `parts` (SHA-256, the first 128 bits in hex).
    static func of(_ parts: [String]) -> String {
        var hasher = SHA256()
        let separator: [UInt8] = [0]
        for part in parts {
            // The bytes in place: a `Data` copy of each part was most of a tag's cost.
            var part = part
            part.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
            separator.withUnsafeBytes { hasher.update(bufferPointer: $0) }
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
