import Logging
import SchedStore
import ServiceLifecycle

/// Runs scheduling cycles when something changed (a submission, an exit, a node) and at least every
/// `interval`, so that wait limits and heartbeat timeouts are noticed. Stops on graceful shutdown.
struct SchedulingLoop: Service {
    let state: CoordinatorState
    let wakeups: AsyncStream<Void>
    let wake: AsyncStream<Void>.Continuation
    let interval: Duration

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    while !Task.isCancelled {
                        try await Task.sleep(for: interval)
                        wake.yield()
                    }
                }
                var cycles = 0
                for await _ in wakeups {
                    if Task.isCancelled { break }
                    await state.scheduleOnce()
                    cycles += 1
                    if cycles % 5 == 0 { await state.expireSilentNodes() }
                    if cycles % 25 == 0 { await state.pruneFinished() }
                }
                group.cancelAll()
            }
        }
    }
}

/// The group-commit writer as a service. It is first in the service group, so it is told to stop
/// last, once the sessions and the scheduling loop have stopped writing; it drains, then returns.
struct CommitterService: Service {
    let committer: GroupCommitter

    func run() async throws {
        async let writer: Void = committer.run()
        try? await gracefulShutdown()
        await committer.stop()
        await writer
    }
}

/// Reads the stored job records a start left for later, page by page, while the coordinator already
/// answers; scheduling begins once the last page is in. Ends when done (or at shutdown).
struct StoredJobsLoader: Service {
    let state: CoordinatorState
    let store: any JobStore
    let logger: Logger
    static let pageSize = 5_000

    func run() async throws {
        guard await state.loading else { return }
        let started = ContinuousClock.now
        var after: StoredJobStub?
        var pages = 0
        while !Task.isCancelled {
            let page: StoredJobPage
            do {
                page = try await store.jobs(after: after, limit: Self.pageSize)
            } catch {
                logger.error("cannot read stored jobs (retrying in a second): \(error)")
                try? await Task.sleep(for: .seconds(1))
                continue
            }
            pages += 1
            let more = await state.loadPage(page)
            guard more, let last = page.last else { break }
            after = last
        }
        logger.info(
            "read the stored job records in \(pages) pages, \((ContinuousClock.now - started).milliseconds) ms"
        )
    }
}
