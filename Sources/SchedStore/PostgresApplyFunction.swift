/// A group commit in one round trip: the function `heterosched_apply` checks the writer's term and
/// makes every kind of change, each with one statement over arrays, in the statement's own
/// transaction. The same transaction as `BEGIN`, the check, a statement per kind of change and
/// `COMMIT` were before, which on a loaded 2-core host took five or more round trips, each a wait
/// for the server's turn on a core, and every submission and placement waited for two commits.
///
/// It returns false, having written nothing, when a term was given and no longer holds the lease
/// (the check takes the share lock on the lease row that a take-over waits for, as before); a
/// statement whose arrays are empty is skipped.
extension PostgresStore {
    static let applyMigration: (name: String, sql: [String]) = (
        "v5-apply-function",
        [
            """
            CREATE OR REPLACE FUNCTION heterosched_apply(
                fence_epoch bigint, fence_holder text,
                reservation_names text[], reservation_records text[], deleted_reservations text[],
                job_ids text[], job_states text[], job_submitted float8[], job_records text[],
                node_ids text[], node_records text[], forgotten_nodes text[],
                event_seqs int8[], event_times float8[], event_kinds text[], event_jobs text[], event_records text[],
                expired_jobs text[], events_before float8,
                account_jobs text[], account_attempts int8[], account_started float8[], account_ended float8[],
                account_users text[], account_queues text[], account_models text[], account_records text[],
                accounts_before float8
            ) RETURNS boolean LANGUAGE plpgsql AS $$
            BEGIN
                IF fence_epoch IS NOT NULL THEN
                    PERFORM 1 FROM leader_lease WHERE id = 1 AND epoch = fence_epoch AND holder = fence_holder
                    AND expires_at > now() FOR SHARE;
                    IF NOT FOUND THEN
                        RETURN false;
                    END IF;
                END IF;
                IF cardinality(reservation_names) > 0 THEN
                    INSERT INTO reservation (name, record) SELECT * FROM unnest(reservation_names, reservation_records)
                    ON CONFLICT (name) DO UPDATE SET record = excluded.record;
                END IF;
                IF cardinality(deleted_reservations) > 0 THEN
                    DELETE FROM reservation WHERE name = ANY(deleted_reservations);
                END IF;
                IF cardinality(job_ids) > 0 THEN
                    INSERT INTO job (id, state, submitted_at, record)
                    SELECT * FROM unnest(job_ids, job_states, job_submitted, job_records)
                    ON CONFLICT (id) DO UPDATE SET state = excluded.state, record = excluded.record;
                END IF;
                IF cardinality(node_ids) > 0 THEN
                    INSERT INTO node (id, record) SELECT * FROM unnest(node_ids, node_records)
                    ON CONFLICT (id) DO UPDATE SET record = excluded.record;
                END IF;
                IF cardinality(forgotten_nodes) > 0 THEN
                    DELETE FROM node WHERE id = ANY(forgotten_nodes);
                END IF;
                IF cardinality(event_seqs) > 0 THEN
                    INSERT INTO event (seq, time, kind, job, record)
                    SELECT seq, time, kind, NULLIF(job, ''), record
                    FROM unnest(event_seqs, event_times, event_kinds, event_jobs, event_records)
                    AS e(seq, time, kind, job, record);
                END IF;
                IF cardinality(expired_jobs) > 0 THEN
                    DELETE FROM job WHERE id = ANY(expired_jobs);
                    DELETE FROM event WHERE job = ANY(expired_jobs);
                END IF;
                IF events_before IS NOT NULL THEN
                    DELETE FROM event WHERE job IS NULL AND time < events_before;
                END IF;
                IF cardinality(account_jobs) > 0 THEN
                    INSERT INTO account (job, attempt, started_at, ended_at, "user", queue, model, record)
                    SELECT job, attempt, started_at, ended_at, NULLIF(owner, ''), queue, model, record
                    FROM unnest(account_jobs, account_attempts, account_started, account_ended, account_users,
                    account_queues, account_models, account_records)
                    AS a(job, attempt, started_at, ended_at, owner, queue, model, record)
                    ON CONFLICT (job, attempt) DO UPDATE SET started_at = excluded.started_at,
                    ended_at = excluded.ended_at, "user" = excluded."user", queue = excluded.queue,
                    model = excluded.model, record = excluded.record;
                END IF;
                IF accounts_before IS NOT NULL THEN
                    DELETE FROM account WHERE ended_at < accounts_before;
                END IF;
                RETURN true;
            END
            $$
            """
        ]
    )
}
