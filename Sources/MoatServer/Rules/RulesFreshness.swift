import Atomics

/// When the rules source last confirmed that the serving rules are current, and the optional
/// stale-rules guard (`--max-snapshot-age`, `--stale-answers`; docs/running.md, "The
/// stale-rules guard"). For the rules file, a confirmation is a look at the file that found it
/// holding what is serving (`RuleUpdater.noteSourceConfirmed()`).
///
/// Checks read it with one relaxed atomic load, and only when the guard makes them answer
/// UNAVAILABLE: the comparison uses the clock reading the check already takes.
final class RulesFreshness: Sendable {
    /// The age past which the rules are stale, in milliseconds; nil: never.
    let maximumAgeMillis: Int64?
    /// Whether checks answer UNAVAILABLE while the rules are stale.
    let refusesStale: Bool
    /// Unix milliseconds of the last confirmation; 0: never.
    private let confirmedAt = ManagedAtomic<Int64>(0)

    init(maximumAge: Duration? = nil, staleAnswers: StaleAnswers = .decide) {
        maximumAgeMillis = maximumAge.map { Int64($0 / .milliseconds(1)) }
        refusesStale = maximumAge != nil && staleAnswers == .unavailable
    }

    /// Unix milliseconds of the last confirmation; nil before the first.
    var confirmedAtMillis: Int64? {
        let value = confirmedAt.load(ordering: .relaxed)
        return value == 0 ? nil : value
    }

    func confirm(atMillis now: Int64) {
        confirmedAt.store(now, ordering: .relaxed)
    }

    /// Why the rules are stale at `now` (Unix milliseconds): how long the source has not
    /// confirmed them, over the maximum age; nil when they are fresh or the guard is off.
    func staleness(nowMillis now: Int64) -> String? {
        guard let maximumAgeMillis else { return nil }
        let confirmed = confirmedAt.load(ordering: .relaxed)
        guard now - confirmed > maximumAgeMillis else { return nil }
        let limit = "--max-snapshot-age \(maximumAgeMillis / 1000) s"
        guard confirmed > 0 else { return "the rules source has not confirmed the rules are current yet (\(limit))" }
        return "the rules source last confirmed the rules are current \((now - confirmed) / 1000) s ago (\(limit))"
    }

    /// Why a check decided at `now` (Unix seconds: the clock reading the check already took)
    /// must answer UNAVAILABLE; nil when it may be decided.
    func refusal(nowSeconds now: Int64) -> String? {
        guard refusesStale else { return nil }
        return staleness(nowMillis: now * 1000)
    }
}

/// How checks are answered while the rules are stale (`--stale-answers`).
package enum StaleAnswers: String, Sendable, CaseIterable {
    /// Decide from the last rules anyway (readiness still reports them stale).
    case decide
    /// Answer UNAVAILABLE ("could not decide").
    case unavailable
}
