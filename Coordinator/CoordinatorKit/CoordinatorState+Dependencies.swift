import SchedSpec
import Wire

/// Jobs held until others end (`depends: afterok:ID`): looked at again whenever a job has ended,
/// released into the queue once every dependency is met, failed once one never can be.
extension CoordinatorState {
    enum DependencyVerdict: Equatable {
        case wait
        case met
        case never(String)
    }

    /// What `dependency` says now: met, not yet, or never (with why).
    func verdict(_ dependency: JobDependency) -> DependencyVerdict {
        let state = jobs[dependency.job]?.state ?? unloaded[dependency.job]
        guard let state else {
            // Forgotten by retention: it ended, but how is no longer known.
            return dependency.kind == .afterany
                ? .met : .never("\(dependency): job \(dependency.job) is forgotten, how it ended is not known")
        }
        guard state.isFinal else { return .wait }
        let ok = state == .completed
        switch dependency.kind {
        case .afterany: return .met
        case .afterok:
            return ok ? .met : .never("\(dependency) can never be met: \(dependency.job) \(state.rawValue)")
        case .afternotok:
            return ok ? .never("\(dependency) can never be met: \(dependency.job) completed") : .met
        }
    }

    /// Why a held job waits: each dependency not met yet, with its job's state.
    func heldReason(_ record: JobRecord) -> String {
        if let hold = record.userHold {
            return "held by \(hold.by)" + (hold.reason.map { " (\($0))" } ?? "")
                + ": schedctl release \(record.id) lets it into the queue"
                + (record.held == true ? "; then it waits on its dependencies" : "")
        }
        let pending = (record.dependencies ?? []).filter { verdict($0) == .wait }.map { dependency in
            "\(dependency) (\(jobs[dependency.job]?.state.rawValue ?? "unknown"))"
        }
        return "held until " + (pending.isEmpty ? "the next pass looks again" : pending.joined(separator: ", "))
    }

    /// Releases or fails the held jobs whose dependencies have settled, when a job has ended (or a
    /// held one arrived) since the last look. A failure here ends a job too: its dependents are
    /// looked at on the next pass.
    func releaseHeld() async {
        let ended = jobs.endedCount
        guard !jobs.held.isEmpty, endedAtLastRelease != ended else { return }
        endedAtLastRelease = ended
        let now = clock()
        var changed: [JobRecord] = []
        var events: [PlacementEvent] = []
        for id in jobs.held.sorted() {
            // Held by a user only: that hold is theirs to release.
            guard var record = jobs[id], record.held == true else { continue }
            let verdicts = (record.dependencies ?? []).map { verdict($0) }
            if let never = verdicts.lazy.compactMap({ if case .never(let why) = $0 { why } else { nil } }).first {
                record.held = nil
                record.state = .failed
                record.endedAt = now
                record.reason = "dependency \(never)"
                events.append(makeEvent(.failed, job: id, "\(id) failed: \(record.reason!)"))
                changed.append(record)
            } else if verdicts.allSatisfy({ $0 == .met }) {
                record.held = nil
                let met = (record.dependencies ?? []).map(\.description).joined(separator: ", ")
                events.append(makeEvent(.released, job: id, "\(id) released: \(met) met"))
                changed.append(record)
            }
        }
        guard !changed.isEmpty else { return }
        do {
            try await store(changed, events)
        } catch {
            logger.error("could not store the release of held jobs; they are looked at again: \(error)")
            endedAtLastRelease = nil
        }
    }
}
