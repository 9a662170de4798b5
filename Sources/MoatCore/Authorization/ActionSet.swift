/// A set of the actions of Moat's operation table (RBAC data actions and the control-plane ARM
/// actions), one bit each. Role definitions' wildcard patterns are resolved into these sets when a
/// snapshot is compiled, so a check tests one bit.
struct ActionSet: OptionSet, Sendable, Hashable {
    let rawValue: UInt64

    /// The known actions a role's permissions grant: control-plane actions that `actions` match and
    /// `notActions` do not, data actions that `dataActions` match and `notDataActions` do not.
    /// Patterns use `*` for any run of characters, `/` included, and compare case-insensitively, as
    /// Azure's do.
    init(actions: [String], notActions: [String], dataActions: [String], notDataActions: [String]) {
        var bits: UInt64 = 0
        for operation in Operation.allCases {
            let action = operation.requirement.action
            let (granting, excluding) = operation.isControlPlane ? (actions, notActions) : (dataActions, notDataActions)
            if granting.contains(where: { ActionSet.glob($0, matches: action) })
                && !excluding.contains(where: { ActionSet.glob($0, matches: action) })
            {
                bits |= operation.requirement.actionBit.rawValue
            }
        }
        self.init(rawValue: bits)
    }

    init(rawValue: UInt64) {
        self.rawValue = rawValue
    }

    /// Glob matching with `*` only, ASCII case-insensitive.
    static func glob(_ pattern: String, matches text: String) -> Bool {
        let p = Array(pattern.utf8).map(CaseInsensitiveKey.fold)
        let t = Array(text.utf8).map(CaseInsensitiveKey.fold)
        var pi = 0
        var ti = 0
        var star = -1
        var mark = 0
        while ti < t.count {
            if pi < p.count && p[pi] == UInt8(ascii: "*") {
                star = pi
                mark = ti
                pi += 1
            } else if pi < p.count && p[pi] == t[ti] {
                pi += 1
                ti += 1
            } else if star >= 0 {
                pi = star + 1
                mark += 1
                ti = mark
            } else {
                return false
            }
        }
        while pi < p.count && p[pi] == UInt8(ascii: "*") { pi += 1 }
        return pi == p.count
    }
}
