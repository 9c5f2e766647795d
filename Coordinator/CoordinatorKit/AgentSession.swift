import Logging
import NIOCore
import SchedCore
import Wire

/// An agent's session: it must `REGISTER` the node its `HELLO` named, then speaks only for that node.
struct AgentSession {
    let state: CoordinatorState
    let outbox: Outbox
    let activity: Activity
    let node: NodeID
    /// The fingerprint of the node key the agent proved in its handshake.
    let nodeKey: String
    /// The address the agent's connection came from: its rendezvous address unless it names one.
    let peerAddress: String?
    let logger: Logger

    func run(_ lines: inout NIOAsyncChannelInboundStream<InboundLine>.AsyncIterator) async throws {
        var session: Int?
        do {
            try await serve(&lines, &session)
        } catch {
            if let session { await state.disconnected(node: node, session: session) }
            throw error
        }
        if let session { await state.disconnected(node: node, session: session) }
    }

    private func serve(
        _ lines: inout NIOAsyncChannelInboundStream<InboundLine>.AsyncIterator, _ session: inout Int?
    ) async throws {
        while let message = try await lines.nextMessage(answering: outbox, activity: activity) {
            // Each message is handled in a task of its own, awaited before the next is read. A commit
            // to the store runs deep, and the stack a call needed stays allocated in the task that
            // made it for as long as that task lives: tens of KB for each agent session, for ever.
            let open = session
            switch await Task(operation: { await handle(message, session: open) }).value {
            case .next: continue
            case .registered(let number): session = number
            case .end: return
            }
        }
    }

    /// What the session does after a message.
    enum Handled: Sendable {
        case next
        case registered(Int)
        case end
    }

    private func handle(_ message: WireMessage, session: Int?) async -> Handled {
        guard let open = session else {
            guard case .register(let registration) = message else {
                outbox.send(.err(ErrorReply(.notAllowed, "an agent's first message after AUTH is REGISTER")))
                return .next
            }
            guard registration.node.id == node else {
                outbox.send(
                    .err(
                        ErrorReply(
                            .wrongNode,
                            "this session speaks for node \(node) (its HELLO said so), not \(registration.node.id)")
                    ))
                return .end
            }
            do throws(ErrorReply) {
                // register() sends the OK itself, before any order for the node can be queued.
                return .registered(
                    try await state.register(
                        registration, nodeKey: nodeKey, outbox: outbox, peerAddress: peerAddress))
            } catch {
                outbox.send(.err(error))
                return .end
            }
        }
        do throws(ErrorReply) {
            switch message {
            case .heartbeat(let beat):
                let current = await state.heartbeat(node: node, session: open, beat)
                // Answered, so that an agent can tell a stopped coordinator from a quiet one; by its
                // number only while the session is the node's: the agent's lease runs from it.
                if current, let seq = beat.seq {
                    outbox.send(.ok(JSONText(HeartbeatAcknowledgement(heartbeat: seq).json)))
                } else {
                    outbox.send(.ok(JSONText("{}")))
                }
            case .started(let attempt): try await state.started(attempt, node: node)
            case .checkpoint(let report): try await state.checkpointed(report, node: node)
            case .progress(let report): try await state.progressed(report, node: node)
            case .chunk(let chunk): await state.deliver(chunk, from: node)
            case .exited(let exit):
                do throws(ErrorReply) {
                    try await state.exited(exit, node: node)
                } catch  where error.code == .unavailable {
                    // Not stored: hang up, so that the agent sends it again on its next session.
                    outbox.send(.err(error))
                    outbox.disconnect(
                        because:
                            "the end of \(exit.job) attempt \(exit.attempt) was not stored (\(error.message)); its agent will send it again"
                    )
                    return .end
                } catch {
                    // Nothing to store for it (an unknown job): acknowledged all the same.
                    outbox.send(.err(error))
                }
                outbox.send(
                    .ok(
                        JSONText(
                            WireCodec.json(
                                ExitAcknowledgement(delivered: AttemptRef(job: exit.job, attempt: exit.attempt))))))
            case .register:
                outbox.send(.err(ErrorReply(.notAllowed, "this session has registered \(node) already")))
            case .bye: return .end
            default:
                outbox.send(.err(ErrorReply(.notAllowed, "an agent cannot send \(verb(of: message))")))
            }
        } catch {
            outbox.send(.err(error))
        }
        return .next
    }
}
