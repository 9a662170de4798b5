import Atomics
import MoatCore
import MoatIdentity
import MoatWire
import NIOCore
import NIOPosix
import Prometheus

/// A candidate rule document loaded beside the serving one (docs/protocol.md, "Shadow rule sets"):
/// validated and compiled like a pushed document, never served. Checks the data path answers from
/// the serving snapshot are also handed, after being decided, to the candidate's `ShadowJudge`,
/// which decides them again with the candidate, off the answer's path, and compares.
///
/// Immutable; replaced as a whole (a new candidate, a rebase) through `ShadowSlot`. Kept in memory
/// only: a restart starts without one.
final class ShadowCandidate: AtomicReference, Sendable {
    let rules: LoadedRules
    let document: [UInt8]
    /// The serving revision the candidate was built on; promote compares-and-swaps against it.
    let base: Revision
    /// The changes that built it from `base` (replayed to rebase it); nil when pushed whole.
    let changes: [DocumentChange]?
    /// The share of checks judged, in (0, 1].
    let sampleRate: Double
    /// `sampleRate` as a threshold for a 64-bit random draw.
    private let sampling: SampleThreshold
    let loadedAtMillis: Int64
    /// Judges and reports; shared with the candidates it is rebased into.
    let judge: ShadowJudge
    /// Set when the candidate is the fleet's (`FleetShadow`); nil for a node-local one.
    let fleet: FleetMark?

    /// Which fleet candidate a node loaded: etcd's `PREFIX/shadow/candidate` at `modRevision`.
    struct FleetMark: Sendable, Hashable {
        var modRevision: Int64
        /// `FleetShadowEntry.candidateHash`: the fleet's candidate before any local rebase.
        var candidateHash: String
    }

    init(
        rules: LoadedRules,
        document: [UInt8],
        base: Revision,
        changes: [DocumentChange]?,
        sampleRate: Double,
        judge: ShadowJudge,
        fleet: FleetMark? = nil
    ) {
        self.rules = rules
        self.document = document
        self.base = base
        self.changes = changes
        self.sampleRate = sampleRate
        self.sampling = SampleThreshold(rate: sampleRate)
        self.loadedAtMillis = WallClock.millis()
        self.judge = judge
        self.fleet = fleet
    }

    var revision: Revision { rules.snapshot.revision }

    /// Whether a check whose random draw is `random` is judged.
    @inline(__always)
    func samples(_ random: @autoclosure () -> UInt64) -> Bool {
        sampling.samples(random())
    }

    /// Refuses a sample rate outside (0, 1].
    static func checkSampleRate(_ rate: Double) throws(StatusError) {
        guard rate > 0 && rate <= 1 else {
            throw StatusError(.invalidArgument, "the sample rate must be in (0, 1], not \(rate); nothing was changed")
        }
    }

    /// The candidate and its counters, as Status and ShadowReport carry them.
    func summary(serving: Revision?) -> ShadowSummary {
        let counts = judge.counts()
        var summary = ShadowSummary(
            candidate: revision,
            base: base,
            changes: changes?.map(RuleUpdater.describe) ?? [],
            sampleRate: sampleRate,
            loadedAtUnixMillis: loadedAtMillis,
            compared: counts.compared,
            allowToDeny: counts.allowToDeny,
            denyToAllow: counts.denyToAllow,
            reasonChanged: counts.reasonChanged,
            skipped: counts.skipped,
            baseChanged: serving.map { $0.hash != base.hash } ?? true
        )
        summary.fleet = fleet != nil
        return summary
    }
}

/// Where the data path finds the candidate: one atomic load per frame, nil when none is loaded.
final class ShadowSlot: Sendable {
    private let current = ManagedAtomic<ShadowCandidate?>(nil)

    var candidate: ShadowCandidate? { current.load(ordering: .acquiring) }

    func install(_ candidate: ShadowCandidate?) {
        current.store(candidate, ordering: .releasing)
    }

    /// Clears the slot if `candidate` is still in it.
    func remove(_ candidate: ShadowCandidate) {
        _ = current.compareExchange(expected: candidate, desired: nil, ordering: .acquiringAndReleasing)
    }
}

/// Decides sampled checks again with the candidate, on a thread of its own, and keeps the report.
///
/// The data path only appends the check to a bounded list (one uncontended pthread lock, which
/// ThreadSanitizer sees, unlike `Synchronization.Mutex`'s futex) and, when the list was empty,
/// schedules a drain on the judge's event loop: the candidate's evaluation never runs before the
/// answer, nor on the loops that answer. Tokens are verified as the data path
/// verifies them, through a verified-token cache (`TokenCache`, `tokenCacheBytes`) of the judge's
/// loop and a memo of the last token judged (`TokenMemo`: checks judged in a row usually carry the
/// same token), against the candidate's keys and the serving key sets. When more than `queueLimit` checks
/// wait, new ones are skipped and counted (`skipped`).
final class ShadowJudge: Sendable {
    /// A decided check, waiting to be judged by the candidate.
    struct Check: Sendable {
        var candidate: ShadowCandidate
        /// The serving state that decided it (its key sets are the candidate's too).
        var serving: ServingState
        var request: CheckRequest
        var decision: Decision
        var context: EvaluationContext
        var unixMillis: Int64
        var durationMicros: Int64
        var peer: PeerCredentials?
        var decisionId: String?
        /// Where a flip is logged; nil when the decision log is off.
        var decisionLog: DecisionLog?
    }

    struct Counts: Sendable {
        var compared: UInt64 = 0
        var allowToDeny: UInt64 = 0
        var denyToAllow: UInt64 = 0
        var reasonChanged: UInt64 = 0
        var skipped: UInt64 = 0

        /// Checks whose outcome the candidate turns around, either way.
        var flips: UInt64 { allowToDeny + denyToAllow }
    }

    /// Checks waiting at most.
    static let queueLimit = 16_384

    private struct Waiting {
        var checks: [Check] = []
        var draining = false
        var skipped: UInt64 = 0
    }

    /// The candidate's state with the serving key sets, rebuilt when either changes.
    private struct Judging {
        var report = ShadowReport()
        var candidate: ShadowCandidate?
        var keyGeneration: UInt64 = 0
        var state: ServingState?
    }

    /// The judges' thread: one for the daemon, started with the first candidate.
    static let loop: any EventLoop = MultiThreadedEventLoopGroup(numberOfThreads: 1).next()
    /// The judge's verified-token cache (its hits and misses count in `moat_token_cache_*`).
    static let tokenCacheBytes = 4 << 20

    private let waiting = WaitableLock(Waiting())
    private let judging = WaitableLock(Judging())
    private let metrics: ServerMetrics
    private let tokenCache: TokenCache
    private let tokenMemo = TokenMemo()

    init(metrics: ServerMetrics) {
        self.metrics = metrics
        self.tokenCache = TokenCache(eventLoop: Self.loop, maximumBytes: Self.tokenCacheBytes, metrics: metrics)
    }

    /// Hands a decided check over; returns at once.
    func submit(_ check: Check) {
        let schedule = waiting.withLock { waiting -> Bool in
            guard waiting.checks.count < Self.queueLimit else {
                waiting.skipped += 1
                return false
            }
            waiting.checks.append(check)
            guard !waiting.draining else { return false }
            waiting.draining = true
            return true
        }
        if schedule { Self.loop.execute { self.drain() } }
    }

    /// Judges what waits, batch after batch, until nothing does.
    private func drain() {
        while true {
            let batch = waiting.withLock { waiting -> [Check] in
                if waiting.checks.isEmpty { waiting.draining = false }
                defer { waiting.checks.removeAll(keepingCapacity: true) }
                return waiting.checks
            }
            if batch.isEmpty { return }
            for check in batch { judge(check) }
        }
    }

    private func judge(_ check: Check) {
        let state = judging.withLock { judging -> ServingState in
            if let state = judging.state, judging.candidate === check.candidate,
                judging.keyGeneration == check.serving.keys.generation
            {
                return state
            }
            let state = ServingState(
                rules: check.candidate.rules,
                document: check.candidate.document,
                loadedAtMillis: check.candidate.loadedAtMillis,
                keys: check.serving.keys
            )
            judging.candidate = check.candidate
            judging.keyGeneration = check.serving.keys.generation
            judging.state = state
            return state
        }
        let decision = state.snapshot.evaluate(
            check.request,
            verifier: CachedTokenVerifier(cache: tokenCache, state: state, now: check.context.now, memo: tokenMemo),
            context: check.context
        )
        let change = judging.withLock {
            $0.report.record(check.request, serving: check.decision, candidate: decision, atMillis: check.unixMillis)
        }
        metrics.shadowCompared.increment()
        guard let change else { return }
        metrics.countShadowChange(change)
        guard change != .reason, let log = check.decisionLog else { return }
        var record = DecisionLog.Record(
            unixMillis: check.unixMillis,
            request: check.request,
            decision: check.decision,
            peer: check.peer,
            durationMicros: check.durationMicros,
            decisionId: check.decisionId
        )
        record.shadowFlip = DecisionLog.ShadowFlip(
            change: change.rawValue,
            candidate: decision.revision,
            serving: check.decision.words,
            wouldBe: decision.words
        )
        log.submit(record)
    }

    func counts() -> Counts {
        let skipped = waiting.withLock { $0.skipped }
        return judging.withLock {
            Counts(
                compared: $0.report.compared,
                allowToDeny: $0.report.allowToDeny,
                denyToAllow: $0.report.denyToAllow,
                reasonChanged: $0.report.reasonChanged,
                skipped: skipped
            )
        }
    }

    func groups() -> (groups: [ShadowGroup], otherFlips: UInt64, otherReasonChanged: UInt64) {
        judging.withLock { $0.report.groups() }
    }

    /// Returns once every check submitted before the call has been judged (reports, promote).
    func settle() async {
        // The loop runs its tasks in order: a drain queued now runs after those queued before it,
        // and a drain in progress empties the list before it returns.
        try? await Self.loop.submit { self.drain() }.get()
    }
}
