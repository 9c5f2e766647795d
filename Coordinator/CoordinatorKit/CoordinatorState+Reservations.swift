import Foundation
import SchedCore
import Wire

extension CoordinatorState {
    /// `schedctl reserve|reservations`: makes, changes, deletes (operators) or lists reservations.
    /// A change is stored before it counts; every waiting job is searched again under it.
    func reserve(_ request: ReservationRequest, identity: PeerIdentity?, by who: String) async throws(ErrorReply)
        -> ReservationReply
    {
        let now = clock()
        if request.action == .list {
            let listed = reservations.all.filter { request.name == nil || $0.name == request.name }
            if let name = request.name, listed.isEmpty { throw unknownReservation(name) }
            return ReservationReply(now: now, reservations: listed)
        }
        if let refusal = configuration.permissions.nodeRefusal("\(request.action.rawValue) a reservation", by: identity)
        {
            throw refusal
        }
        let name = request.name ?? ""
        switch request.action {
        case .list:
            return ReservationReply(now: now, reservations: [])
        case .delete:
            guard let old = reservations[name] else { throw unknownReservation(name) }
            let event = makeEvent(
                .reservationDeleted, "reservation \(name) deleted by \(who)", details: ["by": who, "reservation": name])
            try await store(reservation: nil, deleting: name, event)
            return ReservationReply(now: now, reservations: [old])
        case .create, .change:
            let old = reservations[name]
            if request.action == .create, old != nil {
                throw ErrorReply(
                    .conflict, "there is a reservation '\(name)' already: change it, or choose another name")
            }
            if request.action == .change, old == nil { throw unknownReservation(name) }
            let reservation = try shaped(request, from: old, now: now, by: who)
            let conflicts = reservations.conflicts(with: reservation)
            guard conflicts.isEmpty else {
                throw ErrorReply(
                    .conflict,
                    "reservation \(name) would hold chips that \(conflicts.joined(separator: ", ")) holds in an "
                        + "overlapping window: choose other nodes or another time")
            }
            let said = Self.describe(reservation, now: now)
            let event =
                old == nil
                ? makeEvent(
                    .reservationMade, "reservation \(name) made by \(who): \(said)",
                    details: ["by": who, "reservation": name])
                : makeEvent(
                    .reservationChanged, "reservation \(name) changed by \(who): \(said)",
                    details: ["by": who, "reservation": name])
            try await store(reservation: reservation, deleting: nil, event)
            return ReservationReply(now: now, reservations: [reservation], warnings: stillRunning(into: reservation))
        }
    }

    private func unknownReservation(_ name: String) -> ErrorReply {
        let known = reservations.all.map(\.name).prefix(5).joined(separator: ", ")
        return ErrorReply(.invalidSpec, "no reservation '\(name)'" + (known.isEmpty ? "" : "; there are: \(known)"))
    }

    /// A request made into a reservation: what it says, the rest as `old` has it.
    private func shaped(_ request: ReservationRequest, from old: AdvanceReservation?, now: Double, by who: String)
        throws(ErrorReply) -> AdvanceReservation
    {
        var reservation =
            old ?? AdvanceReservation(name: request.name ?? "", start: now, end: now, by: who, createdAt: now)
        if let startIn = request.startIn {
            let length = reservation.end - reservation.start
            reservation.start = now + startIn
            reservation.end = reservation.start + length
        }
        if let duration = request.duration { reservation.end = reservation.start + duration }
        if let endIn = request.endIn { reservation.end = now + endIn }
        guard reservation.end > reservation.start else {
            throw ErrorReply(
                .invalidSpec, "the window would end before it starts: give an earlier start or a later end")
        }
        guard reservation.end > now else {
            throw ErrorReply(.invalidSpec, "the window would end before now: give a later start or a longer duration")
        }
        if let users = request.users { reservation.users = users }
        if let groups = request.groups { reservation.groups = groups }
        if let queue = request.queue {
            if let book = queueBook, let refusal = book.refusal(job: "a reservation", queue: queue) {
                throw ErrorReply(.invalidSpec, refusal)
            }
            reservation.queue = queue
        }
        if request.forNobody == true {
            reservation.users = []
            reservation.groups = []
            reservation.queue = nil
        }
        if let reason = request.reason { reservation.reason = reason }
        if let names = request.nodes {
            let unknown = names.filter { nodes[NodeID($0)] == nil }
            guard unknown.isEmpty else {
                throw ErrorReply(.unknownNode, "no node \(unknown.map { "'\($0)'" }.joined(separator: ", "))")
            }
            reservation.nodes = Array(Set(names)).sorted()
            reservation.chips = []
            reservation.model = nil
        }
        // Chips of a model are chosen again when asked, or when the window moved.
        let moved = old.map { $0.start != reservation.start || $0.end != reservation.end } ?? false
        if let model = request.model ?? (moved ? reservation.model : nil) {
            let count = request.chips ?? reservation.chipCount
            let fleet = nodes.values.map { entry in (entry.node, entry.connected && entry.administration == nil) }
                .sorted { $0.0.id < $1.0.id }
            guard fleet.contains(where: { $0.0.chips.contains { $0.model.name == model } }) else {
                throw ErrorReply(.unknownChip, "no node of the fleet has \(model) chips")
            }
            guard
                let chips = reservations.pickChips(
                    count: count, model: model, window: (reservation.start, reservation.end), except: reservation.name,
                    nodes: fleet)
            else {
                throw ErrorReply(
                    .conflict,
                    "the fleet has fewer than \(count) \(model) chips that no other reservation holds in that window")
            }
            reservation.nodes = []
            reservation.chips = chips
            reservation.model = model
        }
        return reservation
    }

    /// Stores a reservation (or its deletion) with its event, then plans under it.
    private func store(reservation: AdvanceReservation?, deleting name: String?, _ event: PlacementEvent)
        async throws(ErrorReply)
    {
        do {
            try await persist(
                [], [event], reservations: reservation.map { [$0] } ?? [], deletedReservations: name.map { [$0] } ?? [])
        } catch {
            throw ErrorReply(.unavailable, "the reservation was not stored: \(error)")
        }
        if let reservation { reservations[reservation.name] = reservation }
        if let name { reservations[name] = nil }
        logger.notice("\(event.message)")
        jobs.everythingChanged()
        dirty = true
    }

    /// Jobs running on a reservation's chips that it does not admit and that may still run when it
    /// starts (no time limit, or one past the start): what an operator drains or cancels.
    private func stillRunning(into reservation: AdvanceReservation) -> [String] {
        let held = ReservationBook.held(by: reservation)
        return jobs.activeRecords.filter { record in
            guard record.reservation != reservation.name,
                !reservation.admits(user: record.user, groups: record.groups, queue: record.job.queue),
                let placement = record.placement
            else { return false }
            let touches = placement.assignments.contains { assignment in
                guard let chips = held[assignment.node.name] else { return false }
                return chips.map { !$0.isDisjoint(with: assignment.chips) } ?? true
            }
            let end = record.job.timeLimit.map { (record.startedAt ?? placement.placedAt) + $0 } ?? .infinity
            return touches && end > reservation.start
        }.sorted { $0.id < $1.id }.map { record in
            let nodes = Set(record.placement?.assignments.map(\.node.name) ?? []).sorted().joined(separator: ",")
            let limit =
                record.job.timeLimit == nil ? "has no time limit" : "may run past the start by its time limit"
            return "job \(record.id) (\(record.user ?? "?")) runs on \(nodes) and \(limit): it keeps its chips "
                + "when the reservation starts; drain the nodes with --deadline, or cancel it"
        }
    }

    /// "2 nodes (a, b) from in 2h for 4h, maintenance: firmware".
    static func describe(_ reservation: AdvanceReservation, now: Double) -> String {
        let touched = reservation.touchedNodes
        let what =
            reservation.model.map { "\(reservation.chipCount) \($0) chips on \(touched.joined(separator: ", "))" }
            ?? "\(touched.count) node\(touched.count == 1 ? "" : "s") (\(touched.joined(separator: ", ")))"
        let when =
            reservation.start > now ? "from in \(formatSeconds(reservation.start - now))" : "from now"
        return "\(what) \(when) for \(formatSeconds(reservation.end - reservation.start)), \(reservation.audience)"
            + (reservation.reason.map { ": \($0)" } ?? "")
    }

    /// Deletes the reservations whose window has ended; a start or an end since the last pass
    /// searches every waiting job again.
    func passReservationBoundaries(now: Double) async {
        for ended in reservations.ended(at: now) {
            let event = makeEvent(
                .reservationDeleted, "reservation \(ended.name) ended",
                details: ["by": "the coordinator", "reservation": ended.name])
            do {
                try await store(reservation: nil, deleting: ended.name, event)
            } catch {
                logger.error("could not store the end of reservation \(ended.name); tried again at the next pass")
            }
        }
        if reservations.boundaryPassed(at: now) { jobs.everythingChanged() }
    }

    /// Why a job that names `reservation` cannot be submitted by `identity`; nil when it can.
    func reservationRefusal(_ name: String, job: Job, identity: PeerIdentity?) -> ErrorReply? {
        guard let reservation = reservations[name] else {
            return ErrorReply(
                .invalidSpec, "job \(job.id) names reservation '\(name)', which does not exist (schedctl reservations)")
        }
        guard let identity, !configuration.permissions.isOperator(identity),
            !reservation.admits(user: identity.name, groups: identity.groups, queue: job.queue)
        else { return nil }
        return ErrorReply(
            .forbidden,
            "reservation \(name) is for \(reservation.audience); you are \(identity.name) "
                + "(groups \(identity.groups.sorted().joined(separator: ", "))), submitting to queue \(job.queue)")
    }
}
