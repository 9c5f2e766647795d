import SchedCore
import Wire

/// An attempt's output being relayed from its agent to one client.
struct OutputStream {
    var id: Int
    var node: NodeID
    var attempt: Int
    var chunks: AsyncStream<OutputChunk>
}

extension CoordinatorState {
    /// Asks the agent that ran the attempt for its output. Throws when the job has not run, or the
    /// node is not connected now.
    func openOutput(_ request: OutputRequest) async throws(ErrorReply) -> OutputStream {
        let record = try await record(request.job)
        guard record.attempt > 0 else {
            throw ErrorReply(.conflict, "job \(record.id) has not started yet (\(record.state.rawValue)): no output")
        }
        let attempt = request.attempt ?? record.attempt
        guard (1...record.attempt).contains(attempt) else {
            throw ErrorReply(.conflict, "job \(record.id) has attempts 1 to \(record.attempt), not \(attempt)")
        }
        let rank = request.rank ?? 0
        let ranks = record.attemptRanks?[String(attempt)]
        if rank > 0 && !(ranks.map { $0.indices.contains(rank) } ?? false) {
            throw ErrorReply(
                .conflict,
                "attempt \(attempt) of \(record.id) ran on \(ranks?.count ?? 1) node(s): ranks 0 to \((ranks?.count ?? 1) - 1), "
                    + "not \(rank)")
        }
        guard let name = rank > 0 ? ranks?[rank] : record.attemptNodes?[String(attempt)] else {
            throw ErrorReply(.conflict, "the coordinator did not record where attempt \(attempt) of \(record.id) ran")
        }
        let node = NodeID(name)
        guard let writer = nodes[node]?.writer else {
            throw ErrorReply(
                .unavailable,
                "node \(node), where attempt \(attempt) of \(record.id) ran, is not connected: its output cannot be read now"
            )
        }
        let id = nextOutputRequest
        nextOutputRequest += 1
        let (chunks, continuation) = AsyncStream<OutputChunk>.makeStream(bufferingPolicy: .bufferingOldest(10_000))
        outputStreams[id] = (node, continuation)
        writer.send(.tail(TailRequest(request: id, job: record.id, attempt: attempt, follow: request.follow)))
        // An agent that never answers (one that does not keep output) must not hold the client for ever.
        Task { [weak self] in
            try? await Task.sleep(for: .seconds(Self.outputAnswerLimit))
            await self?.outputUnanswered(id)
        }
        return OutputStream(id: id, node: node, attempt: attempt, chunks: chunks)
    }

    /// Seconds an agent has to send the first chunk of an attempt's output.
    static let outputAnswerLimit = 30

    /// The agent asked for output `id` has said nothing: the client is told so, and the stream ends.
    func outputUnanswered(_ id: Int) {
        guard !outputsAnswered.contains(id), let (node, continuation) = outputStreams.removeValue(forKey: id) else {
            outputsAnswered.remove(id)
            return
        }
        continuation.yield(
            OutputChunk(
                data: "", end: true,
                error: "the agent on \(node) did not answer for the output within \(Self.outputAnswerLimit) s"))
        continuation.finish()
        nodes[node]?.writer?.send(.untail(TailStop(request: id)))
    }

    /// A chunk from an agent: to the client that asked for it, if it is still there and the agent is
    /// the one asked.
    func deliver(_ chunk: OutputChunk, from node: NodeID) {
        guard let id = chunk.request, let (asked, continuation) = outputStreams[id], asked == node else { return }
        continuation.yield(chunk)
        outputsAnswered.insert(id)
        if chunk.end {
            continuation.finish()
            outputStreams[id] = nil
        }
    }

    /// The client is done: the agent may stop sending.
    func closeOutput(_ id: Int) {
        guard let (node, continuation) = outputStreams.removeValue(forKey: id) else { return }
        continuation.finish()
        nodes[node]?.writer?.send(.untail(TailStop(request: id)))
    }

    /// The agent of `node` went away: its streams end with a reason.
    func endOutputStreams(of node: NodeID) {
        for (id, stream) in outputStreams where stream.node == node {
            stream.continuation.yield(
                OutputChunk(data: "", end: true, error: "the agent on \(node) went away while sending the output"))
            stream.continuation.finish()
            outputStreams[id] = nil
        }
    }
}
