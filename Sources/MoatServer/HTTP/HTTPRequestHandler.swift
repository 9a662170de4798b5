import NIOCore
import NIOHTTP1

/// Answers the one request of an HTTP connection (`HTTPRoutes`), then closes it: every answer
/// says `Connection: close`, so no second request is read, and nothing is pipelined.
final class HTTPRequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let routes: HTTPRoutes
    private var answering = false

    init(routes: HTTPRoutes) {
        self.routes = routes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data), !answering else { return }
        answering = true
        let routes = self.routes
        let promise = context.eventLoop.makePromise(of: HTTPRoutes.Answer.self)
        promise.completeWithTask { await routes.answer(head) }
        promise.futureResult.assumeIsolated().whenSuccess { answer in
            self.write(answer, head: head, context: context)
        }
    }

    /// A request that is not HTTP: the codec has answered 400 (`HTTPServerProtocolErrorHandler`);
    /// the connection goes.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func write(_ answer: HTTPRoutes.Answer, head request: HTTPRequestHead, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: answer.contentType)
        headers.add(name: "Content-Length", value: String(answer.body.utf8.count))
        headers.add(name: "Cache-Control", value: "no-store")
        headers.add(name: "Connection", value: "close")
        if let allow = answer.allow { headers.add(name: "Allow", value: allow) }
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: answer.status, headers: headers))),
            promise: nil
        )
        if request.method != .HEAD {
            context.write(
                wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: answer.body)))),
                promise: nil
            )
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}
