-- Matcher replicas and their heartbeats: who owns which shard buckets, seen by every replica.
-- Each running replica has one row (one per process: two replicas wrongly given the same shard
-- are two rows), its heartbeat refreshed every MATCHER_HEARTBEAT_SECONDS, and left_at set when
-- it stops cleanly (a heartbeat still in flight then cannot bring it back). A row whose
-- heartbeat is older than MATCHER_REPLICA_TIMEOUT_SECONDS is a replica that died: its buckets
-- are reported as owned by nobody. Old rows are swept when a replica starts.
CREATE TABLE matcher_replicas (
    replica_id   uuid PRIMARY KEY,
    shard_index  integer     NOT NULL CHECK (shard_index >= 0),
    shard_count  integer     NOT NULL CHECK (shard_count >= 1),
    host         text        NOT NULL,  -- hostname and pid, for the person reading the report
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    left_at      timestamptz,
    CHECK (shard_index < shard_count)
);
