import Dispatch
import MoatCore
import MoatIdentity
import MoatWire
import NIOPosix
import Testing

@testable import MoatServer

/// Changes run one at a time, in arrival order, although their file I/O and compiles run on a
/// thread pool (and the actor re-enters at each of those awaits). Each test holds the pool busy,
/// so that the changes pile up at a known point, then lets it go.
@Suite("Rule updates: one change at a time, off the cooperative pool")
struct RuleUpdaterOrderingTests {
    /// A one-thread pool the test holds busy until `release()`: the updater's blocking work waits
    /// behind it.
    final class HeldPool: Sendable {
        let pool = NIOThreadPool(numberOfThreads: 1)
        private let gate = DispatchSemaphore(value: 0)

        init() { pool.start() }

        func hold() { pool.submit { [gate] _ in gate.wait() } }
        func release() { gate.signal() }
        func shutdown() async { try? await pool.shutdownGracefully() }
    }

    static func withUpdater(
        _ body: (RuleUpdater, RuleStore, HeldPool, String) async throws -> Void
    ) async throws {
        let held = HeldPool()
        try await Fixture.withTemporaryDirectory { directory in
            let path = directory + "/rules.json"
            Fixture.write(Fixture.document(), to: path)
            let store = RuleStore()
            let updater = RuleUpdater(
                file: RulesFile(path: path),
                store: store,
                metrics: ServerMetrics(),
                logger: Fixture.logger,
                threadPool: held.pool
            )
            _ = try await updater.reloadFromFile(reason: "test", force: true).get()
            do {
                try await body(updater, store, held, path)
            } catch {
                held.release()
                await held.shutdown()
                throw error
            }
        }
        await held.shutdown()
    }

    /// Waits until `count` changes have reached the updater (bounded: a minute).
    static func waitForPending(_ updater: RuleUpdater, _ count: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while await updater.pendingChanges < count {
            try #require(ContinuousClock.now < deadline, "\(count) changes never reached the updater")
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    static func ipRules(_ bytes: [UInt8]) throws -> [String] {
        let document = try JSONValue(parsing: bytes)
        let rules = document["vaults"]?.arrayValue?[0]["properties"]?["networkAcls"]?["ipRules"]?.arrayValue ?? []
        return rules.compactMap { $0["value"]?.stringValue }
    }

    /// Runs `first`, then, once it waits for the held pool, `between` and `second`; lets the pool
    /// go once both have reached the updater, and returns their results.
    static func pileUp<First: Sendable, Second: Sendable>(
        _ updater: RuleUpdater,
        _ held: HeldPool,
        _ first: @escaping @Sendable () async throws -> First,
        between: () -> Void = {},
        _ second: @escaping @Sendable () async throws -> Second
    ) async throws -> (First, Second) {
        held.hold()
        let firstTask = Task { try await first() }
        try await waitForPending(updater, 1)
        between()
        let secondTask = Task { try await second() }
        try await waitForPending(updater, 2)
        held.release()
        return (try await firstTask.value, try await secondTask.value)
    }

    static func add(_ updater: RuleUpdater, _ address: String) async throws -> ChangeResponse {
        try await updater.apply(
            .addIpRule(vault: "contoso-prod", value: address),
            expectedRevision: nil,
            dryRun: false
        )
    }

    @Test("two concurrent changes are both applied, in arrival order; the revisions and the file agree")
    func concurrentChanges() async throws {
        try await Self.withUpdater { updater, store, held, path in
            let (a, b) = try await Self.pileUp(
                updater,
                held,
                { try await Self.add(updater, "198.51.100.1") },
                { try await Self.add(updater, "198.51.100.2") }
            )
            #expect(a.changed && a.revision.sequence == 2)
            #expect(b.changed && b.revision.sequence == 3)
            let file = Fixture.read(path)
            #expect(try Self.ipRules(file).sorted() == ["198.51.100.1", "198.51.100.2", "203.0.113.0/24"])
            #expect(store.serving?.revision == b.revision)
            #expect(store.serving?.revision.hash == RevisionHash.of(file))
            #expect(await updater.status().history.map(\.sequence) == [2, 1])
            #expect(await updater.pendingChanges == 0)
        }
    }

    @Test("a reload of the rules file racing a control change loses neither; the file is what serves")
    func reloadRacingChange() async throws {
        try await Self.withUpdater { updater, store, held, path in
            let (changed, reload) = try await Self.pileUp(
                updater,
                held,
                { try await Self.add(updater, "198.51.100.1") },
                // An editor's change lands while the control change waits for the pool.
                between: { Fixture.write(Fixture.document(ipRules: ["203.0.113.0/24", "192.0.2.7"]), to: path) },
                { await updater.reloadFromFile(reason: "file changed") }
            )
            _ = try reload.get()
            #expect(changed.changed)
            let file = Fixture.read(path)
            #expect(try Self.ipRules(file).sorted() == ["192.0.2.7", "198.51.100.1", "203.0.113.0/24"])
            #expect(store.serving?.revision.hash == RevisionHash.of(file))
            #expect(store.serving?.document == file)
        }
    }

    @Test("while a change compiles on the pool, Status and data-socket checks go on, on the serving revision")
    func compileOffTheActor() async throws {
        try await Self.withUpdater { updater, store, held, _ in
            held.hold()
            let push = Task {
                try await updater.put(Fixture.document(ipRules: ["192.0.2.0/24"]), expectedRevision: nil, dryRun: false)
            }
            try await Self.waitForPending(updater, 1)

            // The push is still in progress: the actor answers, and checks are decided meanwhile.
            let status = await updater.status()
            #expect(status.serving?.revision.sequence == 1)
            #expect(await updater.pendingChanges == 1)
            var processor = try DataRequestProcessorTests.processor(store: store, serving: false)
            let reply = try DataRequestProcessorTests.answer(
                &processor,
                try DataRequestProcessorTests.frame(.check, DataRequestProcessorTests.request)
            )
            #expect(try Decision(wirePayload: reply.frame.payload).revision.sequence == 1)

            held.release()
            #expect(try await push.value.revision.sequence == 2)
            let after = try DataRequestProcessorTests.answer(
                &processor,
                try DataRequestProcessorTests.frame(.check, DataRequestProcessorTests.request)
            )
            #expect(try Decision(wirePayload: after.frame.payload).revision.sequence == 2)
        }
    }
}
