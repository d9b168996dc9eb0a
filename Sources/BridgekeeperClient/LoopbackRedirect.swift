import BridgekeeperCore
import BridgekeeperJOSE
import Foundation
import Hummingbird
import HTTPTypes
import Logging
import NIOCore
import ServiceLifecycle

/// The loopback redirect receiver of a native app (RFC 8252 §7.3): an HTTP listener on
/// `127.0.0.1` (never another interface) at the configured port, or any free one, that takes the
/// authorization response at the redirect path.
///
/// The first response carrying `code`, `error` or `state` ends the wait; its outcome is judged
/// here, once, for both the browser's page and the sign-in: `iss`, when present, must be the
/// IdP's (RFC 9207) → `state` must be the one sent (compared in constant time) → `error` is the
/// IdP's refusal → `code` is required. Other paths answer 404; the page is `no-store`, sends no
/// referrer and loads nothing.
final class LoopbackRedirect: Sendable {
    enum Outcome: Sendable, Equatable {
        case code(String)
        case refused(error: String, description: String?)
        case stateMismatch
        case issuerMismatch
        case malformed(String)
    }

    let port: Int
    let redirectURI: String
    private let group: ServiceGroup
    private let task: Task<Void, any Error>
    private let outcomes: AsyncStream<Outcome>

    private init(port: Int, path: String, group: ServiceGroup, task: Task<Void, any Error>, outcomes: AsyncStream<Outcome>) {
        self.port = port
        redirectURI = "http://127.0.0.1:\(port)\(path)"
        self.group = group
        self.task = task
        self.outcomes = outcomes
    }

    /// Judges one authorization response (RFC 6749 §4.1.2, §4.1.2.1).
    /// - Parameter requireIssuer: the IdP advertises RFC 9207 `iss` in responses, so a response
    ///   without it is refused (§2.4: a mix-up defence when a client knows several IdPs).
    static func judge(query: String, state expected: String, issuer: String, requireIssuer: Bool = false) -> Outcome? {
        let form: FormParameters
        do {
            form = try FormParameters(Array(query.utf8))
            try form.rejectRepeats()
        } catch { return .malformed("the redirect's parameters are malformed or repeated") }
        guard form.value("code") != nil || form.value("error") != nil || form.value("state") != nil else { return nil }
        if let iss = form.value("iss") {
            guard iss.isExactly(issuer) else { return .issuerMismatch }
        } else if requireIssuer {
            return .issuerMismatch
        }
        guard let state = form.value("state"), Digest.constantTimeEquals(Array(state.utf8), Array(expected.utf8)) else { return .stateMismatch }
        if let error = form.value("error") { return .refused(error: error, description: form.value("error_description")) }
        guard let code = form.value("code") else { return .malformed("the redirect carries neither code nor error") }
        return .code(code)
    }

    static func start(port: Int, path: String, state: String, issuer: String, requireIssuer: Bool = false,
                      idpName: String) async throws(ClientError) -> LoopbackRedirect {
        let (outcomes, outcomeSink) = AsyncStream<Outcome>.makeStream()
        let (ports, portSink) = AsyncStream<Int>.makeStream()
        let router = Router(context: BasicRequestContext.self)
        router.get(RouterPath(path)) { request, _ -> Response in
            guard let outcome = judge(query: request.uri.query ?? "", state: state, issuer: issuer, requireIssuer: requireIssuer) else {
                return page(.badRequest, "Nothing to do", "This address waits for the answer of a sign-in started in a terminal.")
            }
            outcomeSink.yield(outcome)
            switch outcome {
            case .code:
                return page(.ok, "Signed in", "You signed in to \(idpName). You can close this tab and return to the terminal.")
            case .refused(let error, _):
                return page(.ok, "Sign-in failed", "\(idpName) refused the sign-in (\(ClientError.printable(error, limit: 64))). See the terminal.")
            case .stateMismatch, .issuerMismatch:
                return page(.badRequest, "Sign-in failed", "This answer does not belong to the sign-in started in your terminal. See the terminal.")
            case .malformed:
                return page(.badRequest, "Sign-in failed", "The answer is malformed. See the terminal.")
            }
        }
        var logger = Logger(label: "bridgekeeper-login")
        logger.logLevel = .critical  // nothing on stdout, where `token` prints
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "bridgekeeper-login"),
                              onServerRunning: { channel in portSink.yield(channel.localAddress?.port ?? 0) }, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let task = Task {
            defer { portSink.finish() }
            try await group.run()
        }
        var iterator = ports.makeAsyncIterator()
        guard let bound = await iterator.next(), bound > 0 else {
            let reason = (try? await task.value).map { "stopped" } ?? "the port is in use or not allowed"
            throw ClientError(.listenerFailed, "cannot listen on 127.0.0.1:\(port) for the redirect: \(reason)")
        }
        return LoopbackRedirect(port: bound, path: path, group: group, task: task, outcomes: outcomes)
    }

    /// The first authorization response, or `timeout` after `seconds`.
    func next(timeout seconds: Double) async throws(ClientError) -> Outcome {
        let outcomes = self.outcomes
        let first: Outcome? = await withTaskGroup(of: Outcome?.self) { group in
            group.addTask {
                var iterator = outcomes.makeAsyncIterator()
                return await iterator.next()
            }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        guard let first else {
            throw ClientError(.timeout, "no sign-in completed within \(Int(seconds)) s; run the command again and finish the sign-in in the browser")
        }
        return first
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }

    static func page(_ status: HTTPResponse.Status, _ title: String, _ message: String) -> Response {
        let escaped = message.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
        let html = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>\(title): bridgekeeper</title></head>
            <body><h1>\(title)</h1><p>\(escaped)</p></body></html>
            """
        var headers: HTTPFields = [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                                   .contentSecurityPolicy: "default-src 'none'"]
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }
}
