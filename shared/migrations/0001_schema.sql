-- Users, tradable symbols, alerts and refresh tokens.

CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text        NOT NULL UNIQUE CHECK (char_length(username) BETWEEN 1 AND 150),
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Symbols an alert may name. Seeded below with Binance's main spot pairs; the feed refreshes it
-- from Binance's exchangeInfo. Alerts reference it, so an unknown symbol is refused by the database.
CREATE TABLE symbols (
    symbol     text        PRIMARY KEY CHECK (symbol ~ '^[A-Z0-9]{2,20}$'),
    status     text        NOT NULL DEFAULT 'TRADING',
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alerts (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id           bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    symbol            text        NOT NULL REFERENCES symbols (symbol),
    trigger_condition text        NOT NULL CHECK (trigger_condition IN ('above', 'below')),
    -- Binance prices carry at most 8 decimals; the matcher compares them as floats (see
    -- matcher/book.py), which is exact for up to 15 significant digits.
    target_price      numeric     NOT NULL CHECK (target_price > 0 AND scale(target_price) <= 8
                                                  AND target_price < 1e15),
    email             text        NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
    state             text        NOT NULL DEFAULT 'created'
                                  CHECK (state IN ('created', 'triggered', 'deleted')),
    -- Stable hash of the symbol (first 32 bits of MD5, 4096 buckets), mirrored by
    -- shared.sharding.shard_bucket: replica I/N owns the buckets with bucket % N = I.
    shard_bucket      integer     NOT NULL GENERATED ALWAYS AS
                                  (('x' || substr(md5(symbol), 1, 8))::bit(32)::integer & 4095) STORED,
    created_at        timestamptz NOT NULL DEFAULT now(),
    triggered_at      timestamptz,
    triggered_price   numeric     CHECK (triggered_price > 0),
    deleted_at        timestamptz,
    -- Publish bookkeeping: set when RabbitMQ confirmed the alert's message. A claimed alert
    -- (triggered_at set, even if deleted since) with no published_at is republished by the
    -- matcher at start-up and periodically: nothing claimed is lost.
    published_at      timestamptz,
    CHECK ((triggered_at IS NULL) = (triggered_price IS NULL)),
    CHECK (state <> 'triggered' OR triggered_at IS NOT NULL),
    CHECK ((state = 'deleted') = (deleted_at IS NOT NULL)),
    CHECK (published_at IS NULL OR triggered_at IS NOT NULL)
);

-- The matcher's start-up load: this shard's live alerts.
CREATE INDEX alerts_live_by_bucket ON alerts (shard_bucket, id) WHERE state = 'created';
-- The API's lists, newest first, with and without a state filter; also the live-alert count.
CREATE INDEX alerts_by_user_state ON alerts (user_id, state, id DESC);
CREATE INDEX alerts_by_user ON alerts (user_id, id DESC);
-- The matcher's republish of claimed-but-unconfirmed alerts.
CREATE INDEX alerts_unpublished ON alerts (shard_bucket, id)
    WHERE triggered_at IS NOT NULL AND published_at IS NULL;

-- Creating alerts in batches: the API gathers the creates that arrive while its previous batch
-- is in flight and sends them as one call, so a thousand creates a second are a few hundred
-- transactions (NOTIFY serialises the commits of notifying transactions, so their number is
-- what limits the rate). Items are taken in user order, locking each user's row once: two
-- batches lock users in the same order and cannot deadlock. In READ COMMITTED each statement of
-- a volatile function takes a fresh snapshot, so the count of live alerts sees every alert
-- committed before the lock was granted, and concurrent creates cannot pass the cap.
-- One row back per item: (item, outcome, id, created_at); outcome is 'created', 'no_user',
-- 'cap' or 'unknown_symbol', and only 'created' items are inserted.
CREATE FUNCTION create_alerts(p_user_ids bigint[], p_symbols text[], p_conditions text[],
                              p_targets numeric[], p_emails text[], p_cap bigint)
RETURNS TABLE (item integer, outcome text, alert_id bigint, created_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    entry record;
    locked_user bigint;
    user_found boolean;
    live bigint;
    accepted integer[] := '{}';
    new_ids bigint[] := '{}';
BEGIN
    FOR entry IN
        SELECT i, p_user_ids[i] AS user_id
        FROM generate_subscripts(p_user_ids, 1) AS i
        ORDER BY p_user_ids[i], i
    LOOP
        IF locked_user IS DISTINCT FROM entry.user_id THEN
            locked_user := entry.user_id;
            PERFORM 1 FROM users WHERE id = entry.user_id FOR NO KEY UPDATE;
            user_found := FOUND;
            SELECT count(*) INTO live
            FROM alerts a WHERE a.user_id = entry.user_id AND a.state = 'created';
        END IF;
        item := entry.i;
        alert_id := NULL;
        created_at := NULL;
        IF NOT user_found THEN
            outcome := 'no_user';
        ELSIF live >= p_cap THEN
            outcome := 'cap';
        ELSIF NOT EXISTS (SELECT 1 FROM symbols s WHERE s.symbol = p_symbols[entry.i]) THEN
            outcome := 'unknown_symbol';
        ELSE
            outcome := 'created';
            alert_id := nextval(pg_get_serial_sequence('alerts', 'id'));
            created_at := now();
            live := live + 1;
            accepted := accepted || entry.i;
            new_ids := new_ids || alert_id;
        END IF;
        RETURN NEXT;
    END LOOP;
    -- One statement for the whole batch: one trigger run, one NOTIFY payload per 40 alerts.
    INSERT INTO alerts (id, user_id, symbol, trigger_condition, target_price, email)
    OVERRIDING SYSTEM VALUE
    SELECT new_ids[k], p_user_ids[accepted[k]], p_symbols[accepted[k]],
           p_conditions[accepted[k]], p_targets[accepted[k]], p_emails[accepted[k]]
    FROM generate_subscripts(accepted, 1) AS k;
END $$;

-- Opaque refresh tokens, stored as SHA-256 only. Each is single-use: using it sets consumed_at
-- and issues the next one in the same family; reusing a consumed one revokes the whole family.
CREATE TABLE refresh_tokens (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id   uuid        NOT NULL,
    token_hash  bytea       NOT NULL UNIQUE,
    issued_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    consumed_at timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);

-- Change feed for the matcher: NOTIFY on channel 'alerts' for every inserted alert and every
-- state change, whoever the writer is. Statement-level with transition tables, so a claim of
-- 100,000 alerts sends a few thousand notifications, not 100,000. Rows are batched 40 to a
-- payload to stay well under PostgreSQL's 8,000-byte limit. Payload:
--   {"op": "insert"|"state", "alerts": [{"id", "bucket", "symbol", "condition", "target", "state"}]}
CREATE FUNCTION alerts_notify_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('alerts', payload)
    FROM (
        SELECT json_build_object('op', 'insert', 'alerts', json_agg(entry ORDER BY id))::text AS payload
        FROM (
            SELECT id,
                   (row_number() OVER (ORDER BY id) - 1) / 40 AS batch,
                   json_build_object('id', id, 'bucket', shard_bucket, 'symbol', symbol,
                                     'condition', trigger_condition,
                                     'target', target_price::text, 'state', state) AS entry
            FROM new_rows
        ) numbered
        GROUP BY batch
    ) payloads;
    RETURN NULL;
END $$;

-- Transition tables carry no statistics, and the planner would join old_rows to new_rows with a
-- nested loop: quadratic, 25 s for a claim of 20,000 alerts. Hash joins keep it linear.
CREATE FUNCTION alerts_check_and_notify_state() RETURNS trigger LANGUAGE plpgsql
SET enable_nestloop = off AS $$
DECLARE
    bad record;
BEGIN
    -- The life cycle: created -> triggered, created|triggered -> deleted. Nothing else.
    SELECT o.id, o.state AS old_state, n.state AS new_state INTO bad
    FROM old_rows o JOIN new_rows n USING (id)
    WHERE o.state <> n.state
      AND NOT (o.state = 'created' AND n.state IN ('triggered', 'deleted'))
      AND NOT (o.state = 'triggered' AND n.state = 'deleted')
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'alert % cannot go from % to %', bad.id, bad.old_state, bad.new_state
            USING ERRCODE = 'check_violation';
    END IF;

    PERFORM pg_notify('alerts', payload)
    FROM (
        SELECT json_build_object('op', 'state', 'alerts', json_agg(entry ORDER BY id))::text AS payload
        FROM (
            SELECT n.id,
                   (row_number() OVER (ORDER BY n.id) - 1) / 40 AS batch,
                   json_build_object('id', n.id, 'bucket', n.shard_bucket, 'symbol', n.symbol,
                                     'condition', n.trigger_condition,
                                     'target', n.target_price::text, 'state', n.state) AS entry
            FROM old_rows o JOIN new_rows n USING (id)
            WHERE o.state <> n.state
        ) numbered
        GROUP BY batch
    ) payloads;
    RETURN NULL;
END $$;

CREATE TRIGGER alerts_notify_insert
    AFTER INSERT ON alerts REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION alerts_notify_insert();

CREATE TRIGGER alerts_check_and_notify_state
    AFTER UPDATE ON alerts REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION alerts_check_and_notify_state();
