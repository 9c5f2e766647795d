/// What each metric the coordinator serves means: its HELP line, and the table in docs/operations.md.
public enum MetricHelp {
    public static let text: [String: String] = [
        "heterosched_jobs":
            "Jobs the coordinator holds, by state, kind, queue and tier (the vendor of the job's current tier: huawei, nvidia, mixed, any).",
        "heterosched_jobs_waiting": "Jobs in the waiting queue (queued, not held on a dependency or by schedctl hold).",
        "heterosched_chips":
            "Chips of connected and known nodes by model, vendor, state (busy, free, stopping, resting after a fault) and health.",
        "heterosched_nodes":
            "Nodes by state: ready, cordoned, draining, drained (draining, nothing left on it), disconnected (agent away), lost (heartbeat timeout).",
        "heterosched_agent_sessions": "Agent sessions open now (one per connected node).",
        "heterosched_agent_heartbeat_age_max_seconds": "Seconds since the oldest last heartbeat of a connected agent.",
        "heterosched_client_connections": "Connections open on the line protocol (agents and clients).",
        "heterosched_handshakes_in_progress": "Connections still opening their session.",
        "heterosched_leader":
            "1 while this coordinator leads, 0 while it stands by for another on a shared PostgreSQL store.",
        "heterosched_auth_failures_total": "Handshakes refused for a wrong token or credential.",
        "heterosched_events_total": "Placement log events published, by kind.",
        "heterosched_jobs_submitted_total": "Jobs accepted, by kind and queue.",
        "heterosched_placements_total": "Attempts placed, by kind, queue and chip model.",
        "heterosched_jobs_ended_total": "Jobs ended, by kind, queue and outcome (completed, failed, cancelled).",
        "heterosched_preemptions_total":
            "Attempts stopped to make room for another job (priority or reclaim), by the victim's kind and queue.",
        "heterosched_fallbacks_total":
            "Jobs moved down their tier ladder, by the vendor of the tier left and taken and the reason (failures, wait-limit, cannot-hold, operator, finishes-sooner).",
        "heterosched_returns_total": "Jobs returned to their first tier at a checkpoint, by the tiers' vendors.",
        "heterosched_attempt_faults_total": "Attempts ended by a chip, link or node fault, by chip model and kind.",
        "heterosched_steps_lost_total": "Training steps lost to faults since each attempt's last checkpoint, by kind.",
        "heterosched_chip_health_changes_total": "Chip health changes agents reported, by the new health.",
        "heterosched_nodes_lost_total": "Nodes declared lost after the heartbeat timeout.",
        "heterosched_scheduling_pass_duration_seconds":
            "Wall time of a scheduling pass: snapshot, plan, apply and commit.",
        "heterosched_scheduling_pass_jobs": "Waiting jobs a scheduling pass searched.",
        "heterosched_submit_to_placement_seconds":
            "From submission to a job's first placement, on the coordinator's clock.",
        "heterosched_store_commit_batch_size":
            "Writes (submissions, decisions, ends) sharing one group-commit transaction.",
        "heterosched_store_commit_duration_seconds":
            "Time for one group-commit transaction to be durable (write and fsync).",
    ]
}
