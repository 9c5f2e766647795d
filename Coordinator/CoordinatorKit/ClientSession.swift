import Logging
import NIOCore
import SchedCore
import Wire

/// A `schedctl` (or any client) session: one reply per request, or an event stream after `WATCH`.
struct ClientSession {
    let state: CoordinatorState
    let outbox: Outbox
    let activity: Activity
    /// The user a credential proved (MUNGE); nil under the shared token, where the client says.
    let identity: PeerIdentity?
    let logger: Logger

    func run(_ lines: inout NIOAsyncChannelInboundStream<InboundLine>.AsyncIterator) async throws {
        while let message = try await lines.nextMessage(answering: outbox, activity: activity) {
            switch message {
            case .watch(let request):
                try await watch(request, &lines)
                return
            case .output(let request):
                try await output(request, &lines)
                return
            case .bye:
                return
            default:
                // Paced: a client that sends requests without reading the replies waits for itself.
                guard await outbox.sendPaced(await reply(to: message)) else { return }
            }
        }
    }

    func reply(to message: WireMessage) async -> WireMessage {
        do throws(ErrorReply) {
            switch message {
            case .submit(var request):
                // A proved user owns what it submits, whatever the request says.
                if let identity { request.user = identity.name }
                if let batch = request.batch {
                    return ok(
                        try await state.submit(
                            batch, user: request.user, directory: request.directory, identity: identity))
                }
                return ok(try await state.submit(request, identity: identity))
            case .cancel(let ref):
                try await check("cancel", ref.job)
                return ok(try await state.cancel(ref.job, by: identity?.name ?? ref.user ?? "a client"))
            case .status(let ref): return ok(try await state.record(ref.job))
            case .jobs(let query): return ok(try await state.list(query))
            case .nodes: return ok(await state.nodeStatuses())
            case .queues: return ok(await state.queueStatuses())
            case .queuesApply(let request):
                if let refusal = state.configuration.permissions.nodeRefusal("replace the queue tree", by: identity) {
                    throw refusal
                }
                return ok(
                    try await state.applyQueues(request.text, file: request.file, by: identity?.name ?? "a client"))
            case .health: return ok(await state.health())
            case .webTicket(let request): return ok(await state.webTicket(request, identity: identity))
            case .forget(let ref):
                if let refusal = state.configuration.permissions.nodeRefusal("forget a node", by: identity) {
                    throw refusal
                }
                return ok(try await state.forget(NodeID(ref.node)))
            case .history(let query): return ok(try await state.history(query))
            case .usage(let query): return ok(try await state.usage(query))
            case .jobAction(let request):
                return ok(
                    await state.act(request, identity: identity, by: identity?.name ?? request.user ?? "a client"))
            case .update(let change):
                return ok(
                    try await state.update(change, identity: identity, by: identity?.name ?? change.user ?? "a client"))
            case .reserve(let request):
                return ok(
                    try await state.reserve(
                        request, identity: identity, by: identity?.name ?? request.user ?? "a client"))
            case .nodeState(let request):
                let act = request.action == .resume ? "resume a node" : "\(request.action.rawValue) a node"
                if let refusal = state.configuration.permissions.nodeRefusal(act, by: identity) { throw refusal }
                return ok(try await state.administer(request, by: identity?.name ?? request.user ?? "a client"))
            case .logs(let ref): return ok(try await state.logs(job: ref.job))
            case .fallback(let request):
                try await check("move down a tier", request.job)
                return ok(try await state.operatorFallback(request))
            case .hello, .challenge, .auth:
                return .err(ErrorReply(.notAllowed, "the session is already open"))
            case .register, .heartbeat, .started, .checkpoint, .progress, .exited, .run, .kill, .limit, .tail, .untail,
                .chunk,
                .ok, .err,
                .event, .watch, .output, .bye:
                return .err(ErrorReply(.notAllowed, "a client cannot send \(verb(of: message))"))
            }
        } catch {
            return .err(error)
        }
    }

    /// Refuses when the session's user may not `act` on `job` (`Permissions`).
    func check(_ act: String, _ job: String) async throws(ErrorReply) {
        guard identity != nil else { return }
        if let refusal = state.configuration.permissions.refusal(act, try await state.record(job), by: identity) {
            throw refusal
        }
    }

    /// The session becomes a stream of `EVENT` lines until the client goes away.
    func watch(_ request: WatchRequest, _ lines: inout NIOAsyncChannelInboundStream<InboundLine>.AsyncIterator)
        async throws
    {
        activity.setExempt(true)
        let (id, startSeq, events) = await state.addWatcher(job: request.job)
        outbox.send(.ok(JSONText("{\"watching\":true}")))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                var lastSent = request.after ?? 0
                // The replay first, page by page, then the live events from where it ends.
                if let after = request.after {
                    var cursor = after
                    while true {
                        let page = await state.events(after: cursor, before: startSeq)
                        guard let last = page.last else { break }
                        for event in page where request.job == nil || event.job == request.job {
                            guard await outbox.sendPaced(.event(event)) else { return }
                        }
                        cursor = last.seq
                        lastSent = last.seq
                    }
                }
                for await event in events {
                    guard await outbox.sendPaced(.event(event)) else { return }
                    lastSent = event.seq
                }
                // The stream ended: the client fell too far behind, or the coordinator is stopping.
                if await state.watcherFellBehind(id) {
                    outbox.send(
                        .err(
                            ErrorReply(
                                .unavailable,
                                "this watch fell more than \(CoordinatorState.watcherBacklogLimit) events behind and "
                                    + "was stopped; watch again with --after \(lastSent)")))
                    outbox.close()
                }
            }
            // Anything the client sends now only tells us whether it is still there.
            while try await lines.next() != nil {}
            await state.removeWatcher(id)
            group.cancelAll()
        }
        await state.removeWatcher(id)
    }

    /// The session becomes a stream of `CHUNK` lines of an attempt's output, relayed from the agent
    /// that ran it, until the last one (or the client goes away).
    func output(_ request: OutputRequest, _ lines: inout NIOAsyncChannelInboundStream<InboundLine>.AsyncIterator)
        async throws
    {
        let opened: OutputStream
        do {
            try await check("read the output of", request.job)
            opened = try await state.openOutput(request)
        } catch {
            outbox.send(.err(error))
            return
        }
        activity.setExempt(true)
        outbox.send(
            .ok(
                JSONText(
                    WireCodec.json(["job": request.job, "attempt": String(opened.attempt), "node": opened.node.name]))))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await chunk in opened.chunks {
                    var relayed = chunk
                    relayed.request = nil
                    guard await outbox.sendPaced(.chunk(relayed)) else { return }
                }
            }
            // The client closes after the last chunk; anything it sends only says it is still there.
            while try await lines.next() != nil {}
            group.cancelAll()
        }
        await state.closeOutput(opened.id)
    }

    func ok<T: Encodable>(_ value: T) -> WireMessage { .ok(JSONText(WireCodec.json(value))) }
}

func verb(of message: WireMessage) -> String {
    String(WireCodec.encode(message).prefix { $0 != " " })
}
