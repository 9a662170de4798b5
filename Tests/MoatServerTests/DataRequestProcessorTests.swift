import Atomics
import MoatCore
import MoatIdentity
import MoatWire
import NIOCore
import NIOEmbedded
import Testing

@testable import MoatServer

@Suite("Answering data-socket frames")
struct DataRequestProcessorTests {
    static let metrics = ServerMetrics()

    /// A processor on `store`; with `serving`, the fixture document is published there first.
    static func processor(
        store: RuleStore = RuleStore(),
        serving: Bool = true,
        draining: Bool = false,
        trustsAssertedIdentity: Bool = false
    ) throws -> DataRequestProcessor {
        if serving {
            let rules = try LoadedRules(json: Fixture.document(), sequence: 4)
            store.publish(ServingState(rules: rules, document: Fixture.document(), loadedAtMillis: 0))
        }
        return DataRequestProcessor(
            store: store,
            tokenCache: TokenCache(eventLoop: EmbeddedEventLoop(), maximumBytes: 1 << 20, metrics: metrics),
            metrics: metrics,
            decisionLog: nil,
            draining: ManagedAtomic(draining),
            peer: nil,
            trustsAssertedIdentity: trustsAssertedIdentity,
            sampling: 1
        )
    }

    static func frame(
        _ method: MethodID,
        _ message: some WireMessage,
        streamID: UInt32 = 9,
        flags: Frame.Flags = []
    ) throws -> Frame {
        var payload = ByteBuffer()
        try message.encode(into: &payload)
        return Frame(streamID: streamID, method: method, flags: flags, status: .ok, payload: payload)
    }

    static let request = CheckRequest(vault: "contoso-prod", operation: .getSecret, sourceAddress: "203.0.113.9")

    /// An answer as the processor wrote it: one whole frame, nothing before or after it.
    struct Reply {
        var frame: Frame
        var closesConnection: Bool
    }

    static func answer(
        _ processor: inout DataRequestProcessor,
        _ frame: Frame,
        arrival: NIODeadline = .now()
    ) throws -> Reply {
        var out = ByteBuffer()
        let closes = processor.answer(frame, arrival: arrival, into: &out)
        let answer = try #require(try FrameDecoder(maximumLength: 1 << 24).readFrame(from: &out))
        #expect(out.readableBytes == 0, "bytes after the answer")
        return Reply(frame: answer, closesConnection: closes)
    }

    @Test("a check is decided on the serving snapshot and answered on its stream")
    func check() throws {
        var processor = try Self.processor()
        let reply = try Self.answer(&processor, try Self.frame(.check, Self.request))
        #expect(
            reply.frame.streamID == 9 && reply.frame.isResponse && reply.frame.status == .ok && !reply.closesConnection
        )
        let decision = try Decision(wirePayload: reply.frame.payload)
        #expect(decision.innerCode == .missingToken)
        #expect(decision.revision.sequence == 4)
    }

    @Test("past --max-snapshot-age, --stale-answers unavailable refuses checks; decide decides; fresh rules decide")
    func staleRules() throws {
        let confirmed: Int64 = 1_767_225_600
        let cases: [(answers: StaleAnswers, age: Int64, refused: Bool)] = [
            (.unavailable, 61, true), (.unavailable, 60, false), (.decide, 61, false),
        ]
        for (answers, age, refused) in cases {
            let freshness = RulesFreshness(maximumAge: .seconds(60), staleAnswers: answers)
            freshness.confirm(atMillis: confirmed * 1000)
            var processor = try Self.processor(store: RuleStore(freshness: freshness))
            processor.clock = { confirmed + age }
            let reply = try Self.answer(&processor, try Self.frame(.check, Self.request))
            if refused {
                #expect(reply.frame.status == .unavailable, "\(answers) after \(age) s")
                let error = try StatusError(wirePayload: reply.frame.payload)
                #expect(error.message.contains("61 s ago (--max-snapshot-age 60 s)"), "\(error.message)")
            } else {
                #expect(reply.frame.status == .ok, "\(answers) after \(age) s")
                #expect(try Decision(wirePayload: reply.frame.payload).innerCode == .missingToken)
            }
        }
    }

    @Test("without rules, or while draining, checks are UNAVAILABLE but Ping answers")
    func notReady() throws {
        for var processor in [try Self.processor(serving: false), try Self.processor(draining: true)] {
            let check = try Self.answer(&processor, try Self.frame(.check, Self.request))
            #expect(check.frame.status == .unavailable)
            #expect(try StatusError(wirePayload: check.frame.payload).code == .unavailable)
        }
        var processor = try Self.processor(serving: false)
        let pong = try Pong(wirePayload: try Self.answer(&processor, try Self.frame(.ping, Ping())).frame.payload)
        #expect(pong == Pong(ready: false, revision: nil))
        var ready = try Self.processor()
        #expect(
            try Pong(wirePayload: Self.answer(&ready, try Self.frame(.ping, Ping())).frame.payload).revision?.sequence
                == 4
        )
    }

    @Test("flags: the response bit closes the connection, other reserved bits do not")
    func flags() throws {
        var processor = try Self.processor()
        let response = try Self.answer(&processor, try Self.frame(.ping, Ping(), flags: .response))
        #expect(response.frame.status == .invalidArgument && response.closesConnection)
        let reserved = try Self.answer(&processor, try Self.frame(.ping, Ping(), flags: Frame.Flags(rawValue: 0x04)))
        #expect(reserved.frame.status == .invalidArgument && !reserved.closesConnection)
    }

    @Test("methods of the control socket and unknown methods are UNIMPLEMENTED")
    func methods() throws {
        var processor = try Self.processor()
        let control = try Self.answer(&processor, try Self.frame(.status, StatusRequest()))
        #expect(control.frame.status == .unimplemented)
        #expect(try StatusError(wirePayload: control.frame.payload).message.contains("control socket"))
        #expect(
            try Self.answer(&processor, try Self.frame(MethodID(rawValue: 99), Ping())).frame.status == .unimplemented
        )
    }

    @Test("a payload that does not decode, or holds a NUL, is INVALID_ARGUMENT and the connection stays")
    func badPayload() throws {
        var processor = try Self.processor()
        let reply = try Self.answer(&processor, Self.garbage(streamID: 1))
        #expect(reply.frame.status == .invalidArgument && !reply.closesConnection)
        // Field 1 (vault), length 3, "a\0b".
        let nul = Frame(
            streamID: 2,
            method: .check,
            flags: [],
            status: .ok,
            payload: ByteBuffer(bytes: [0x0a, 0x03, 0x61, 0x00, 0x62])
        )
        let refused = try Self.answer(&processor, nul)
        #expect(refused.frame.status == .invalidArgument)
        #expect(try StatusError(wirePayload: refused.frame.payload).message.contains("vault"))
    }

    @Test("a batch is answered in order; more than 1024 requests is RESOURCE_EXHAUSTED")
    func batch() throws {
        var processor = try Self.processor()
        var denied = Self.request
        denied.vault = "no-such-vault"
        let reply = try Self.answer(
            &processor,
            try Self.frame(.checkBatch, CheckBatchRequest(requests: [Self.request, denied]))
        )
        let items = try CheckBatchResponse(wirePayload: reply.frame.payload).items
        #expect(items.map(\.code) == [.unauthorized, .vaultNotFound])
        let tooMany = CheckBatchRequest(
            requests: Array(repeating: Self.request, count: CheckBatchRequest.maximumCount + 1)
        )
        let refused = try Self.answer(&processor, try Self.frame(.checkBatch, tooMany))
        #expect(refused.frame.status == .resourceExhausted && !refused.closesConnection)
    }

    /// Issue 8, L9: the requests are counted before any is unpacked: 1025 requests that would not
    /// even decode are RESOURCE_EXHAUSTED, not INVALID_ARGUMENT.
    @Test("more than 1024 requests is RESOURCE_EXHAUSTED before any request is decoded")
    func batchCountedFirst() throws {
        var processor = try Self.processor()
        let bytes = (0...CheckBatchRequest.maximumCount).flatMap { _ in Self.item([0xff]) }
        let frame = Frame(streamID: 3, method: .checkBatch, payload: ByteBuffer(bytes: bytes))
        let reply = try Self.answer(&processor, frame)
        #expect(reply.frame.status == .resourceExhausted)
        #expect(try StatusError(wirePayload: reply.frame.payload).message.contains("at most 1024"))
    }

    /// Issue 8, H1: one request that cannot be decided fails alone; the others are decided.
    @Test("a batch answers each request: one that does not decode or is late gets its own status")
    func batchItemsFailAlone() throws {
        var processor = try Self.processor()
        var late = Self.request
        late.timeoutMicros = 1000
        let good = Self.item(Array(try Self.request.payload().readableBytesView))
        // Field 1 (vault), 12 bytes: "contoso\0prod".
        let nul = Self.item([0x0a, 0x0c] + Array("contoso\u{0}prod".utf8))
        let payload = good + nul + Self.item(Array(try late.payload().readableBytesView)) + good
        let frame = Frame(streamID: 4, method: .checkBatch, payload: ByteBuffer(bytes: payload))
        let reply = try Self.answer(&processor, frame, arrival: .now() - .seconds(1))
        #expect(reply.frame.status == .ok && !reply.closesConnection)
        let items = try CheckBatchResponse(wirePayload: reply.frame.payload).items
        #expect(items.map(\.code) == [.unauthorized, nil, nil, .unauthorized])
        guard items.count == 4, case .error(let undecodable) = items[1], case .error(let expired) = items[2] else {
            Issue.record("items: \(items)")
            return
        }
        #expect(undecodable.code == .invalidArgument)
        #expect(undecodable.message == "field 'requests[1].vault' holds a NUL byte or invalid UTF-8")
        #expect(expired.code == .deadlineExceeded)
    }

    /// Issue 8: a request whose status field is not 0 is refused; the connection stays.
    @Test("a request whose status field is not 0 is INVALID_ARGUMENT and the connection stays")
    func statusInRequest() throws {
        var processor = try Self.processor()
        var frame = try Self.frame(.check, Self.request)
        frame.status = .internalError
        let reply = try Self.answer(&processor, frame)
        #expect(reply.frame.status == .invalidArgument && !reply.closesConnection)
        #expect(try StatusError(wirePayload: reply.frame.payload).message.contains("status field"))
    }

    @Test("a request whose deadline passed before evaluation is DEADLINE_EXCEEDED")
    func deadline() throws {
        var processor = try Self.processor()
        var request = Self.request
        request.timeoutMicros = 1000
        let late = try Self.answer(&processor, try Self.frame(.check, request), arrival: .now() - .seconds(1))
        #expect(late.frame.status == .deadlineExceeded)
        request.timeoutMicros = 60_000_000
        let inTime = try Self.answer(&processor, try Self.frame(.check, request), arrival: .now() - .seconds(1))
        #expect(inTime.frame.status == .ok)
    }

    @Test("asserted identities count only from trusted asserter peers")
    func assertedIdentity() throws {
        var request = Self.request
        request.assertedIdentity = AssertedIdentity(oid: "a11ce000-0000-4000-8000-000000000001", tid: Fixture.tenant)
        var untrusted = try Self.processor()
        #expect(
            try Decision(wirePayload: Self.answer(&untrusted, try Self.frame(.check, request)).frame.payload).innerCode
                == .invalidToken
        )
        var trusted = try Self.processor(trustsAssertedIdentity: true)
        let decision = try Decision(wirePayload: Self.answer(&trusted, try Self.frame(.check, request)).frame.payload)
        #expect(decision.stage == .authorization)
        #expect(decision.caller?.objectId == "a11ce000-0000-4000-8000-000000000001")
    }

    @Test(
        "tokens on one connection (the same again, with Bearer, another of the same length, the first again) each name their own caller"
    )
    func tokensOnOneConnection() throws {
        var processor = try Self.exampleProcessor()
        let (alice, bob) = (Self.alice, Self.bob)
        let aliceToken = try TokenCacheTests.token(object: alice)
        let bobToken = try TokenCacheTests.token(object: bob)
        try #require(aliceToken.utf8.count == bobToken.utf8.count)
        let sequence = [
            (aliceToken, alice), (aliceToken, alice), ("Bearer " + aliceToken, alice), (bobToken, bob),
            (aliceToken, alice), (bobToken, bob),
        ]
        for (token, caller) in sequence {
            var request = Self.request
            request.token = token
            let reply = try Self.answer(&processor, try Self.frame(.check, request))
            let decision = try Decision(wirePayload: reply.frame.payload)
            #expect(decision.caller?.objectId == caller)
        }
    }
}

extension DataRequestProcessorTests {
    /// Object ids of the example rules' tenant: alice may get contoso-prod's secrets, bob may not.
    static let alice = "a11ce000-0000-4000-8000-000000000001"
    static let bob = "b0b00000-0000-4000-8000-000000000002"

    /// A processor on the example rules (deploy/examples/rules.json), deciding at a time when
    /// `TokenCacheTests.token`'s tokens are valid.
    static func exampleProcessor() throws -> DataRequestProcessor {
        let store = RuleStore()
        store.publish(try TokenCacheTests.state(sequence: 1))
        var processor = try Self.processor(store: store, serving: false)
        processor.clock = { 1_800_000_000 }
        return processor
    }

    /// A Check frame whose payload does not decode.
    static func garbage(streamID: UInt32) -> Frame {
        Frame(
            streamID: streamID,
            method: .check,
            flags: [],
            status: .ok,
            payload: ByteBuffer(bytes: [0xff, 0xff, 0xff])
        )
    }

    /// `processor`'s answer to a check of `request` on stream `streamID`, and the answer a processor
    /// of its own gives it (no last answer: the decision packed).
    static func answerAndPacked(
        _ processor: inout DataRequestProcessor,
        _ request: CheckRequest,
        streamID: UInt32
    ) throws -> (reply: Frame, packed: Frame) {
        let frame = try Self.frame(.check, request, streamID: streamID)
        let reply = try Self.answer(&processor, frame)
        var fresh = try Self.exampleProcessor()
        return (reply.frame, try Self.answer(&fresh, frame).frame)
    }

    @Test(
        "an answer repeating the connection's last decision is byte for byte the answer packed anew, on its own stream"
    )
    func repeatedAnswers() throws {
        var processor = try Self.exampleProcessor()
        let alice = try TokenCacheTests.token(object: Self.alice)
        let bob = try TokenCacheTests.token(object: Self.bob)
        var outcomes: [Decision.Outcome] = []
        for (index, token) in [alice, alice, bob, bob, alice].enumerated() {
            var request = Self.request
            request.token = token
            let (reply, packed) = try Self.answerAndPacked(&processor, request, streamID: UInt32(20 + index))
            #expect(reply == packed)
            #expect(reply.streamID == UInt32(20 + index))
            outcomes.append(try Decision(wirePayload: reply.payload).outcome)
        }
        #expect(outcomes == [.allow, .allow, .deny, .deny, .allow])
    }

    @Test(
        "an answer whose decision equals the last one as Strings compare, but not byte for byte (canonically equivalent names), is packed anew"
    )
    func canonicallyEquivalentAnswers() throws {
        var processor = try Self.exampleProcessor()
        let token = try TokenCacheTests.token(object: Self.alice)
        // "café" with U+00E9, then with "e" and U+0301: equal `String`s, other bytes, both echoed
        // in the VaultNotFound message.
        let names = ["caf\u{E9}", "cafe\u{301}"]
        try #require(names[0] == names[1] && Array(names[0].utf8) != Array(names[1].utf8))
        for (index, vault) in names.enumerated() {
            var request = Self.request
            request.token = token
            request.vault = vault
            let (reply, packed) = try Self.answerAndPacked(&processor, request, streamID: UInt32(40 + index))
            #expect(reply == packed)
            let decision = try Decision(wirePayload: reply.payload)
            #expect(decision.code == .vaultNotFound)
            #expect(decision.message.utf8.count == "Vault not found: ''.".utf8.count + vault.utf8.count)
        }
    }

    @Test("a check repeated after an error answer, then after a new revision, is answered as packing would")
    func repeatedAcrossErrorsAndRevisions() throws {
        var processor = try Self.exampleProcessor()
        var request = Self.request
        request.token = try TokenCacheTests.token(object: Self.alice)
        let check = try Self.frame(.check, request, streamID: 30)
        let first = try Self.answer(&processor, check)
        let refused = try Self.answer(&processor, Self.garbage(streamID: 31))
        #expect(refused.frame.status == .invalidArgument)
        let again = try Self.answer(&processor, check)
        #expect(again.frame == first.frame)
        // A new revision: the same question, answered on it.
        processor.store.publish(try TokenCacheTests.state(sequence: 2))
        let next = try Self.answer(&processor, check)
        var fresh = try Self.exampleProcessor()
        fresh.store.publish(try TokenCacheTests.state(sequence: 2))
        #expect(next.frame == (try Self.answer(&fresh, check)).frame)
        #expect(try Decision(wirePayload: next.frame.payload).revision.sequence == 2)
    }

    /// `bytes` as one item of `CheckBatchRequest.requests` (field 1, a length under 128).
    static func item(_ bytes: [UInt8]) -> [UInt8] {
        precondition(bytes.count < 128)
        return [0x0a, UInt8(bytes.count)] + bytes
    }
}

extension CheckRequest {
    fileprivate func payload() throws -> ByteBuffer {
        var buffer = ByteBuffer()
        try encode(into: &buffer)
        return buffer
    }
}

extension CheckBatchResponse.Item {
    /// The decision's code; nil for an item that could not be decided.
    fileprivate var code: Decision.Code? {
        if case .decision(let decision) = self { return decision.code }
        return nil
    }
}
