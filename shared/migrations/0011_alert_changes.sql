-- The changes feed of GET /api/alerts/?changed_since=<token> (api/alerts.py, api/changes.py):
-- every alert row carries the id of the transaction that last wrote it, and a token is the
-- snapshot (pg_current_snapshot()) that the previous answer was read in. The alerts changed
-- since a token are those whose writer that snapshot did not see and the current one does:
--
--     changed_by >= pg_snapshot_xmin(token) AND NOT pg_visible_in_snapshot(changed_by, token)
--
-- which is exact under concurrent writers. A sequence number would not be: a transaction can
-- take seq 9, commit after another took seq 10, and be missed by a reader whose token says 10.
-- A transaction in flight when the token was taken is in the token's in-progress list, so its
-- rows are answered once it has committed, and exactly once: a later token's snapshot sees it.
--
-- Every writer is covered (the API, the matcher's claims, references and expiry sweep), since
-- the column is set by a trigger, not by the statements. The top-level transaction's id is the
-- one a snapshot lists, also from inside a subtransaction.
--
-- Rows not written since this migration keep NULL: older than any token, never "changed".
-- Adding a nullable column without a default rewrites nothing.
ALTER TABLE alerts ADD COLUMN changed_by xid8;

CREATE FUNCTION alerts_mark_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.changed_by := pg_current_xact_id();
    RETURN NEW;
END
$$;

CREATE TRIGGER alerts_mark_changed
    BEFORE INSERT OR UPDATE ON alerts
    FOR EACH ROW EXECUTE FUNCTION alerts_mark_changed();

-- A poll reads one user's rows written since the token's xmin: an index range, newest writes
-- only. (An update now always changes an indexed column, so it is never HOT: most of them
-- already changed state, which alerts_by_user_state indexes.)
CREATE INDEX alerts_changes ON alerts (user_id, changed_by);
