import Foundation
import GRDB
import Testing
import WfloCore
@testable import WfloStore

/// The write-ahead log is copied back into the database mostly on the checkpointer's own
/// connection and thread (``WALCheckpointer``), not in the commit that fills it, and it still
/// starts over: it never grows without bound, whether the writer pauses between calls (a run
/// waiting for its model) or writes without a pause.
struct CheckpointTests {
    /// 900 paid calls (a reservation and a settlement each, nine frames): ~8,100 frames, eight
    /// times the threshold. Never checkpointed, the log would hold every one: 4,120 bytes each, 33 MB.
    func writeCalls(pausing: Bool, in directory: URL) async throws -> (walBytes: Int, checkpoints: Int) {
        let path = directory.appendingPathComponent("j-\(pausing).db").path
        let store = try SQLiteJournalStore(path: path)
        let checkpointer = try #require(store.checkpointer)
        try await store.createRun(sampleRun(budget: "1000"))
        for number in 1...900 {
            let id = try #require(try await store.beginAttempt(start(step: "s\(number)", reserve: "0.0001")).attemptID)
            try await store.finishAttempt(finish(id, step: "s\(number)", cost: "0.00005"))
            // Pausing: a checkpoint asked for finishes before the next write, as while a run waits for its model.
            let deadline = Date().addingTimeInterval(10)
            while pausing, checkpointer.isRunning, Date() < deadline {
                try await Task.sleep(for: .milliseconds(2))
            }
        }
        let journal = try await store.journal(runID: sampleRun().id)
        #expect(journal.attempts.count == 900 && journal.attempts.allSatisfy { $0.status == .succeeded })
        #expect(journal.ledger.settled == Money(string: "0.045"))
        let walBytes = try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int ?? 0
        return (walBytes, checkpointer.completed.load(ordering: .relaxed))
    }

    @Test(arguments: [true, false])
    func theLogIsCheckpointedAndStartsOver(pausing: Bool) async throws {
        try await withTemporaryDirectory { directory in
            let (walBytes, checkpoints) = try await writeCalls(pausing: pausing, in: directory)
            #expect(checkpoints >= (pausing ? 6 : 1), "\(checkpoints) checkpoints")
            // Pausing, the log starts over at the write after each checkpoint: it never holds much more than
            // the threshold. Without pauses it starts over after the commit that follows a finished
            // background checkpoint, which a loaded machine can delay up to the 4,000-frame backstop.
            let frames = pausing ? 2 * Int(WALCheckpointer.threshold) : 4 * Int(WALCheckpointer.threshold) + 100
            #expect(walBytes > 0 && walBytes < frames * 4_120, "the log is \(walBytes) bytes")
        }
    }
}
