import MoatCore
import NIOCore
import Synchronization
import Testing

@testable import MoatClient

/// The client's decision cache, on a clock the test moves by hand.
@Suite("Decision cache")
struct DecisionCacheTests {
    final class ManualClock: Sendable {
        private let time = Mutex(NIODeadline.uptimeNanoseconds(1_000_000_000))
        var now: NIODeadline { time.withLock { $0 } }
        func advance(_ amount: Duration) { time.withLock { $0 = $0 + TimeAmount(amount) } }
    }

    static let request = CheckRequest(vault: "contoso-prod", operation: .getSecret, sourceAddress: "203.0.113.9")
    static let key = DecisionCache.Key(request)

    static func decision(sequence: UInt64, _ outcome: Decision.Outcome = .allow) -> Decision {
        Decision(
            outcome: outcome,
            code: outcome == .allow ? .ok : .forbidden,
            stage: outcome == .allow ? .allow : .network,
            message: "",
            revision: Revision(sequence: sequence, hash: String(repeating: "\(sequence % 10)", count: 16))
        )
    }

    static func cache(
        timeToLive: Duration = .seconds(1),
        maximumEntries: Int = 100
    ) -> (DecisionCache, ManualClock) {
        let clock = ManualClock()
        let configuration = MoatClient.DecisionCacheConfiguration(
            maximumEntries: maximumEntries,
            timeToLive: timeToLive
        )
        return (DecisionCache(configuration: configuration, clock: { clock.now }), clock)
    }

    @Test("an entry is served until its time to live has passed, which is capped at 10 s")
    func timeToLive() {
        let (cache, clock) = Self.cache(timeToLive: .milliseconds(200))
        cache.store(Self.decision(sequence: 1), for: Self.key)
        clock.advance(.milliseconds(199))
        #expect(cache.decision(for: Self.key) != nil)
        clock.advance(.milliseconds(1))
        #expect(cache.decision(for: Self.key) == nil)

        let (capped, cappedClock) = Self.cache(timeToLive: .seconds(3600))
        capped.store(Self.decision(sequence: 1), for: Self.key)
        cappedClock.advance(.seconds(10))
        #expect(capped.decision(for: Self.key) == nil)
    }

    @Test("the key is every deciding field; the vault name's case does not matter")
    func key() {
        let (cache, _) = Self.cache()
        cache.store(Self.decision(sequence: 1), for: Self.key)
        var upper = Self.request
        upper.vault = "CONTOSO-PROD"
        upper.timeoutMicros = 5000
        #expect(cache.decision(for: DecisionCache.Key(upper)) != nil)
        var other = Self.request
        other.token = "eyJ.x.y"
        #expect(cache.decision(for: DecisionCache.Key(other)) == nil)
        other = Self.request
        other.sourceAddress = "203.0.113.10"
        #expect(cache.decision(for: DecisionCache.Key(other)) == nil)
    }

    @Test("vault names fold ASCII letters only, as the daemon does; other texts compare byte for byte")
    func keyFoldsAsTheDaemon() {
        let (cache, _) = Self.cache()
        var kelvin = Self.request
        kelvin.vault = "kv-prod"
        cache.store(Self.decision(sequence: 1), for: DecisionCache.Key(kelvin))
        // U+212A KELVIN SIGN lower-cases to "k" in Unicode; the daemon folds ASCII only, so to it
        // this is another vault (404), and the cached allow must not answer it.
        kelvin.vault = "\u{212A}v-prod"
        #expect(cache.decision(for: DecisionCache.Key(kelvin)) == nil)
        kelvin.vault = "KV-PROD"
        #expect(cache.decision(for: DecisionCache.Key(kelvin)) != nil)

        // Canonically equivalent object names are different names to the daemon.
        var composed = Self.request
        composed.objectName = "caf\u{E9}"
        cache.store(Self.decision(sequence: 1), for: DecisionCache.Key(composed))
        var decomposed = composed
        decomposed.objectName = "cafe\u{301}"
        #expect(composed.objectName == decomposed.objectName)
        #expect(cache.decision(for: DecisionCache.Key(decomposed)) == nil)
        #expect(cache.decision(for: DecisionCache.Key(composed)) != nil)
    }

    @Test("a newer revision drops every entry; an answer on an older one is not stored")
    func revisions() {
        let (cache, _) = Self.cache()
        cache.store(Self.decision(sequence: 2), for: Self.key)
        cache.observe(Revision(sequence: 3, hash: "3333333333333333"))
        #expect(cache.decision(for: Self.key) == nil)
        cache.store(Self.decision(sequence: 2), for: Self.key)
        #expect(cache.decision(for: Self.key) == nil)
        cache.store(Self.decision(sequence: 3, .deny), for: Self.key)
        #expect(cache.decision(for: Self.key)?.outcome == .deny)
        cache.observe(Revision(sequence: 2, hash: "2222222222222222"))
        #expect(cache.decision(for: Self.key)?.outcome == .deny)
    }

    @Test("reset forgets the revision too: a restarted daemon's lower sequence is accepted")
    func reset() {
        let (cache, _) = Self.cache()
        cache.store(Self.decision(sequence: 9), for: Self.key)
        cache.reset()
        #expect(cache.decision(for: Self.key) == nil)
        cache.store(Self.decision(sequence: 1), for: Self.key)
        #expect(cache.decision(for: Self.key)?.revision.sequence == 1)
    }

    @Test("a full cache drops expired entries first, and starts over when none have expired")
    func capacity() {
        let (cache, clock) = Self.cache(maximumEntries: 2)
        func key(_ object: String) -> DecisionCache.Key {
            var request = Self.request
            request.objectName = object
            return DecisionCache.Key(request)
        }
        cache.store(Self.decision(sequence: 1), for: key("a"))
        clock.advance(.milliseconds(600))
        cache.store(Self.decision(sequence: 1), for: key("b"))
        clock.advance(.milliseconds(500))
        cache.store(Self.decision(sequence: 1), for: key("c"))
        #expect(cache.decision(for: key("b")) != nil && cache.decision(for: key("c")) != nil)
        cache.store(Self.decision(sequence: 1), for: key("d"))
        #expect(cache.decision(for: key("b")) == nil && cache.decision(for: key("c")) == nil)
        #expect(cache.decision(for: key("d")) != nil)
    }
}
