import SchedCore
import SchedSpec
import Wire

/// Job arrays: one record for the array, its tasks let into the queue as its throttle allows (each
/// an ordinary job, `ID_INDEX`, told its index), and the array ended once its last task has.
extension CoordinatorState {
    /// The most tasks one pass lets in, so that an array of a million without a throttle joins the
    /// queue over many short commits rather than one long one.
    static let tasksPerPass = 5_000

    /// Releases tasks of every array with room under its throttle, and ends arrays whose tasks all
    /// ended. Runs before each scheduling pass.
    func advanceArrays() async {
        guard !jobs.arrays.isEmpty else { return }
        let now = clock()
        var changed: [JobRecord] = []
        var events: [PlacementEvent] = []
        var budget = Self.tasksPerPass
        for id in jobs.arrays.sorted() {
            guard var parent = jobs[id], var progress = parent.array, parent.state == .queued, !parent.isHeld
            else { continue }
            let counts = jobs.taskStates[id] ?? [:]
            let live = (counts[.queued] ?? 0) + (counts[.placed] ?? 0) + (counts[.running] ?? 0)
            let total = progress.spec.count
            let room = min((progress.spec.throttle ?? Int.max) - live, total - progress.released, budget)
            if room > 0 {
                var released: [String] = []
                for _ in 0..<room {
                    guard let index = progress.spec.index(at: progress.released) else { break }
                    let task = task(of: parent, index: index, count: total)
                    changed.append(task)
                    released.append(task.id)
                    progress.released += 1
                }
                budget -= released.count
                parent.array = progress
                changed.append(parent)
                let ids = released.count > 1 ? "\(released[0])…\(released[released.count - 1])" : released[0]
                events.append(
                    makeEvent(
                        .released, job: id,
                        "array \(id): \(ids) released (\(progress.released) of \(total)"
                            + (progress.spec.throttle.map { "; at most \($0) at once" } ?? "") + ")"))
            } else if progress.released >= total && live == 0 {
                let completed = counts[.completed] ?? 0
                let failed = counts[.failed] ?? 0
                let cancelled = counts[.cancelled] ?? 0
                parent.endedAt = now
                if completed == total {
                    parent.state = .completed
                    parent.reason = "all \(total) tasks completed"
                } else {
                    parent.state = .failed
                    parent.reason =
                        "\(failed) failed and \(cancelled) cancelled of \(total) tasks (\(completed) completed)"
                }
                events.append(
                    makeEvent(
                        parent.state == .completed ? .completed : .failed, job: id, "array \(id): \(parent.reason!)"))
                changed.append(parent)
            }
            if budget <= 0 { break }
        }
        guard !changed.isEmpty else { return }
        do {
            try await store(changed, events)
        } catch {
            logger.error("could not store an array's tasks; they are released again on the next pass: \(error)")
        }
    }

    /// One task of an array: the array's job and spec under its own id, told its index.
    func task(of parent: JobRecord, index: Int, count: Int) -> JobRecord {
        var job = parent.job
        job.id = JobID(JobArrayProgress.taskID(array: parent.id, index: index))
        var run = parent.run
        run.env["HETEROSCHED_ARRAY_JOB_ID"] = parent.id
        run.env["HETEROSCHED_ARRAY_TASK_ID"] = String(index)
        run.env["HETEROSCHED_ARRAY_TASK_COUNT"] = String(count)
        var task = JobRecord(job: job, run: run)
        task.user = parent.user
        task.groups = parent.groups
        task.reservation = parent.reservation
        task.arrayParent = parent.id
        task.arrayTask = index
        return task
    }

    /// What an array has come to, for `schedctl status`: its tasks by state, and those not let in yet.
    func arraySummary(_ record: JobRecord) -> String? {
        guard let progress = record.array else { return nil }
        let counts = jobs.taskStates[record.id] ?? [:]
        let states = JobRecord.State.allCases.compactMap { state in
            (counts[state] ?? 0) > 0 ? "\(counts[state]!) \(state.rawValue)" : nil
        }
        let waiting = progress.spec.count - progress.released
        return "array \(progress.spec): \(progress.spec.count) tasks"
            + (states.isEmpty ? "" : ", " + states.joined(separator: ", "))
            + (waiting > 0 ? ", \(waiting) not released yet" : "")
    }

    /// Cancels an array's tasks that have not ended (its record is cancelled by the caller).
    func cancelTasks(of parent: JobRecord, by who: String) async {
        guard let progress = parent.array else { return }
        for position in 0..<progress.released {
            guard let index = progress.spec.index(at: position) else { break }
            let id = JobArrayProgress.taskID(array: parent.id, index: index)
            if let task = jobs[id], !task.state.isFinal { _ = try? await cancel(id, by: who) }
        }
    }
}
