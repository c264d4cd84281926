-- Usernames unique without regard to case, stored NFKC-normalised; and the state that throttles
-- logins and signups, shared by every API worker and replica.

-- 1. Usernames. 'ALICE', 'Alice' and a fullwidth 'Ａlice' were three accounts; from now on they
-- are one name. Existing accounts are kept, and none is lost: where several names fold to one,
-- the oldest account keeps it and each newer one is renamed '<name>~<id>' ('~' is never allowed
-- in a new username, so the new name is free, and stays free). Each rename is recorded in
-- username_renames, for the operator to tell those users their new login name.
CREATE TABLE username_renames (
    user_id      bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    old_username text        NOT NULL,
    new_username text        NOT NULL,
    renamed_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TEMPORARY TABLE folded_usernames ON COMMIT DROP AS
SELECT id, username,
       normalize(username, NFKC) AS normal,
       row_number() OVER (PARTITION BY lower(normalize(username, NFKC)) ORDER BY id) AS rank
FROM users;

-- The newer of each clash first, so no name is briefly taken twice.
WITH renamed AS (
    UPDATE users u
    SET username = left(f.normal, 150 - 1 - length(u.id::text)) || '~' || u.id
    FROM folded_usernames f
    WHERE u.id = f.id AND f.rank > 1
    RETURNING u.id, f.username AS old_username, u.username AS new_username
)
INSERT INTO username_renames (user_id, old_username, new_username)
SELECT id, old_username, new_username FROM renamed;

UPDATE users u SET username = f.normal
FROM folded_usernames f
WHERE u.id = f.id AND f.rank = 1 AND f.normal <> u.username;

-- users_username_key (exact) stays beside the folded index: code that says
-- ON CONFLICT (username) keeps working.
ALTER TABLE users ADD CONSTRAINT users_username_nfkc CHECK (username IS NFKC NORMALIZED);
-- Signup and login both look a name up by lower(username), through this index.
CREATE UNIQUE INDEX users_username_folded ON users (lower(username));

-- 2. Throttles: one row per key ('login:<address>', 'login:<address>:<username>',
-- 'signup:<address>'), holding the generic cell rate algorithm's theoretical arrival time. A key
-- allows a burst of `limit` attempts and then one every `period / limit`; the state is a single
-- timestamp, and an attempt is a single statement.
CREATE TABLE throttles (
    key text        PRIMARY KEY,
    tat timestamptz NOT NULL
);
CREATE INDEX throttles_by_tat ON throttles (tat);

-- Takes one attempt on every key at once, or on none: returns 0 when allowed, else the seconds
-- to wait before the first key that refused would allow one. p_intervals[i] is key i's
-- period / limit; p_bursts[i] is its limit. Rows are locked in key order, so two calls with
-- overlapping keys cannot deadlock.
CREATE FUNCTION throttle_take(p_keys text[], p_intervals interval[], p_bursts integer[])
RETURNS double precision LANGUAGE plpgsql AS $$
DECLARE
    i integer;
    current timestamptz;
    wait double precision := 0;
BEGIN
    INSERT INTO throttles (key, tat)
    SELECT k, now() FROM unnest(p_keys) AS k
    ORDER BY k
    ON CONFLICT (key) DO NOTHING;
    PERFORM 1 FROM throttles WHERE key = ANY (p_keys) ORDER BY key FOR UPDATE;
    FOR i IN 1 .. cardinality(p_keys) LOOP
        SELECT greatest(tat, now()) INTO current FROM throttles WHERE key = p_keys[i];
        -- Allowed while the new arrival time stays within the burst's tolerance.
        wait := greatest(wait, extract(epoch FROM
            current + p_intervals[i] - now() - p_intervals[i] * p_bursts[i]));
    END LOOP;
    IF wait > 0 THEN
        RETURN wait;
    END IF;
    UPDATE throttles t SET tat = greatest(t.tat, now()) + k.step
    FROM unnest(p_keys, p_intervals) AS k (key, step)
    WHERE t.key = k.key;
    -- Keys whose bursts have refilled carry no state: one call in a hundred sweeps some away.
    IF random() < 0.01 THEN
        DELETE FROM throttles WHERE key IN (
            SELECT key FROM throttles WHERE tat < now() ORDER BY tat LIMIT 1000
            FOR UPDATE SKIP LOCKED
        );
    END IF;
    RETURN 0;
END $$;

-- Gives back one attempt taken on each key (a login that turned out right was no failure).
CREATE FUNCTION throttle_give_back(p_keys text[], p_intervals interval[])
RETURNS void LANGUAGE sql AS $$
    UPDATE throttles t SET tat = t.tat - k.step
    FROM unnest(p_keys, p_intervals) AS k (key, step)
    WHERE t.key = k.key;
$$;
