public import MoatCore

/// A rule document compiled into everything a check needs: the snapshot and a verifier holding the
/// snapshot's tenant keys, imported.
///
/// The one way `moatd` and `moatctl` load a document, so that both hash, validate and import keys
/// identically and a document is accepted or refused as a whole: a key that
/// swift-crypto refuses rejects the document like any other validation error.
///
/// ```swift
/// let rules = try LoadedRules(json: bytes, sequence: 1)
/// let decision = rules.snapshot.evaluate(request, verifier: rules.verifier, context: context)
/// ```
public struct LoadedRules: Sendable {
    public let snapshot: Snapshot
    public let verifier: JWTVerifier

    /// Hashes, validates and compiles `bytes` as revision `sequence`.
    ///
    /// Throws every problem found: the document's validation errors first, then the keys swift-crypto
    /// refuses. When validation fails, the keys are still tried (from the document's `tenants`
    /// alone), so one run of `moatctl validate` lists everything to fix.
    public init(json bytes: some Collection<UInt8>, sequence: UInt64) throws(DocumentError) {
        let bytes = Array(bytes)
        let revision = Revision(sequence: sequence, hash: RevisionHash.of(bytes))
        let snapshot: Snapshot
        do {
            snapshot = try Snapshot(json: bytes, revision: revision)
        } catch {
            throw DocumentError(errors: error.errors + Self.keyErrors(inRejected: bytes))
        }
        self.snapshot = snapshot
        self.verifier = try JWTVerifier(snapshot: snapshot)
    }

    /// The key import errors of a document that failed validation, found by compiling its `tenants`
    /// on their own; none when the tenants themselves are invalid (their errors are already listed).
    private static func keyErrors(inRejected bytes: [UInt8]) -> [ValidationError] {
        guard let document = try? JSONValue(parsing: bytes), let tenants = document["tenants"] else { return [] }
        let revision = Revision(sequence: 0, hash: "")
        guard let keysOnly = try? Snapshot(document: .object([("tenants", tenants)]), revision: revision) else {
            return []
        }
        do {
            _ = try JWTVerifier(snapshot: keysOnly)
            return []
        } catch {
            return error.errors
        }
    }
}
