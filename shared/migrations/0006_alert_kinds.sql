-- Alert kinds, repeating alerts, expiry and pause; channels beyond email; every fire a row of
-- its own; the deliveries of each channel of each fire. Existing databases upgrade in place: a
-- triggered alert becomes fire 1 of itself, its sent mail the email delivery of that fire.

-- 1. The alerts table: new kinds and fields, and the rules tying them together.
ALTER TABLE alerts DROP CONSTRAINT alerts_trigger_condition_check;
ALTER TABLE alerts DROP CONSTRAINT alerts_state_check;
ALTER TABLE alerts
    ALTER COLUMN target_price DROP NOT NULL,
    -- percent moves: 0 < percent <= 1000, at most 4 decimals, within one of six windows
    ADD COLUMN percent numeric CHECK (percent > 0 AND percent <= 1000 AND scale(percent) <= 4),
    ADD COLUMN time_window text CHECK (time_window IN ('1m', '5m', '15m', '1h', '4h', '1d')),
    ADD COLUMN frequency text NOT NULL DEFAULT 'once' CHECK (frequency IN ('once', 'repeat')),
    ADD COLUMN cooldown_seconds integer CHECK (cooldown_seconds BETWEEN 60 AND 604800),
    ADD COLUMN expires_at timestamptz,
    -- crossing: the last trade price when the alert went live, decided and recorded once by
    -- the matcher; it fixes the direction of the first crossing.
    ADD COLUMN reference_price numeric CHECK (reference_price > 0),
    ADD COLUMN fire_count integer NOT NULL DEFAULT 0 CHECK (fire_count >= 0),
    ADD COLUMN paused_at timestamptz,
    ADD COLUMN expired_at timestamptz,
    -- channels beyond email: a webhook (its format) and a Telegram chat (an id or @channel)
    ADD COLUMN webhook_url text CHECK (char_length(webhook_url) BETWEEN 8 AND 2048),
    ADD COLUMN webhook_format text CHECK (webhook_format IN ('standard', 'discord', 'slack')),
    ADD COLUMN telegram_chat_id text CHECK (telegram_chat_id ~ '^(-?[0-9]{1,20}|@[A-Za-z0-9_]{5,32})$'),
    ADD CONSTRAINT alerts_trigger_condition_check CHECK
        (trigger_condition IN ('above', 'below', 'crossing', 'up_pct', 'down_pct')),
    ADD CONSTRAINT alerts_state_check CHECK
        (state IN ('created', 'triggered', 'paused', 'expired', 'deleted'));

UPDATE alerts SET fire_count = 1 WHERE triggered_at IS NOT NULL;

ALTER TABLE alerts ALTER COLUMN email DROP NOT NULL;

ALTER TABLE alerts
    ADD CONSTRAINT alerts_have_a_channel CHECK
        (email IS NOT NULL OR webhook_url IS NOT NULL OR telegram_chat_id IS NOT NULL),
    ADD CONSTRAINT alerts_webhook_has_a_format CHECK
        ((webhook_url IS NULL) = (webhook_format IS NULL)),
    ADD CONSTRAINT alerts_level_has_a_target CHECK
        ((trigger_condition IN ('above', 'below', 'crossing')) = (target_price IS NOT NULL)),
    ADD CONSTRAINT alerts_move_has_percent_and_window CHECK
        ((trigger_condition IN ('up_pct', 'down_pct')) = (percent IS NOT NULL)
         AND (percent IS NULL) = (time_window IS NULL)),
    ADD CONSTRAINT alerts_cooldown_is_for_repeats CHECK
        ((frequency = 'repeat') = (cooldown_seconds IS NOT NULL)),
    ADD CONSTRAINT alerts_reference_is_for_crossing CHECK
        (reference_price IS NULL OR trigger_condition = 'crossing'),
    ADD CONSTRAINT alerts_fired_means_a_fire_count CHECK
        ((fire_count = 0) = (triggered_at IS NULL)),
    -- A repeating alert stays 'created' between fires; only a 'once' alert is 'triggered'.
    ADD CONSTRAINT alerts_repeats_are_never_triggered CHECK
        (frequency = 'once' OR state <> 'triggered'),
    ADD CONSTRAINT alerts_paused_at CHECK (state <> 'paused' OR paused_at IS NOT NULL),
    ADD CONSTRAINT alerts_expired_at CHECK (state <> 'expired' OR expired_at IS NOT NULL);

-- The expiry sweep: live or paused alerts with a deadline.
CREATE INDEX alerts_expiring ON alerts (shard_bucket, expires_at)
    WHERE expires_at IS NOT NULL AND state IN ('created', 'paused');

-- Each user's secret for signing webhooks (whsec_ + base64 of 32 random bytes), made by the API
-- at signup, or on first use for users from before.
ALTER TABLE users ADD COLUMN webhook_secret text CHECK (webhook_secret LIKE 'whsec\_%');

-- 2. Fires: one row per fire, written by the claim, (alert, seq) claimed exactly once. The
-- publish bookkeeping moves here from the alerts row: a fire claimed but not confirmed by
-- RabbitMQ (published_at NULL) is published again by the matcher of its shard.
-- No foreign key to alerts: its check cost a fifth of a claim (measured with 20,000 fires), and
-- alerts are never deleted but with their user, whose fires then simply stay behind.
CREATE TABLE alert_fires (
    alert_id     bigint      NOT NULL,
    seq          integer     NOT NULL CHECK (seq >= 1),
    price        numeric     NOT NULL CHECK (price > 0),
    fired_at     timestamptz NOT NULL,  -- the trade's time
    -- a percent move: the window's low (up_pct) or high (down_pct) it was measured from
    base_price   numeric     CHECK (base_price > 0),
    claimed_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    shard_bucket integer     NOT NULL,
    PRIMARY KEY (alert_id, seq)
);
CREATE INDEX alert_fires_unpublished ON alert_fires (shard_bucket, alert_id, seq)
    WHERE published_at IS NULL;

INSERT INTO alert_fires (alert_id, seq, price, fired_at, claimed_at, published_at, shard_bucket)
SELECT id, 1, triggered_price, triggered_at, triggered_at, published_at, shard_bucket
FROM alerts WHERE triggered_at IS NOT NULL;

DROP INDEX alerts_unpublished;
ALTER TABLE alerts DROP COLUMN published_at;

-- 3. Deliveries: the outcome of each channel of each fire, written by the notifier; also its
-- guard against sending twice ('sent'). No row yet means pending. No foreign key: the
-- notifier works from messages alone, and a message may come from before this table.
CREATE TABLE deliveries (
    alert_id   bigint      NOT NULL,
    seq        integer     NOT NULL CHECK (seq >= 1),
    channel    text        NOT NULL CHECK (channel IN ('email', 'webhook', 'telegram')),
    status     text        NOT NULL CHECK (status IN ('sent', 'retrying', 'parked')),
    attempts   integer     NOT NULL DEFAULT 1 CHECK (attempts >= 1),
    last_error text,
    sent_at    timestamptz CHECK ((status = 'sent') = (sent_at IS NOT NULL)),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (alert_id, seq, channel)
);

INSERT INTO deliveries (alert_id, seq, channel, status, sent_at, updated_at)
SELECT alert_id, 1, 'email', 'sent', sent_at, sent_at FROM alert_emails;
DROP TABLE alert_emails;

-- 4. The change feed carries ids only. 'live': alerts that became 'created' (inserted, or
-- resumed from 'paused'): the matcher reads their rows. 'state': alerts that left 'created'.
-- Ids only keep every payload small whatever the alert's fields (300 bigints < 8,000 bytes),
-- and the matcher reads the rows of both its loads and its changes with one query.
CREATE OR REPLACE FUNCTION alerts_notify_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
    first integer;
BEGIN
    SELECT array_agg(id ORDER BY id) INTO ids FROM new_rows WHERE state = 'created';
    IF ids IS NOT NULL THEN
        FOR first IN 1 .. cardinality(ids) BY 300 LOOP
            PERFORM pg_notify('alerts', '{"op":"live","ids":['
                || array_to_string(ids[first:first + 299], ',') || ']}');
        END LOOP;
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION alerts_check_and_notify_state() RETURNS trigger LANGUAGE plpgsql
SET enable_nestloop = off AS $$
DECLARE
    summary record;
    bad record;
    first integer;
BEGIN
    -- The fire of a repeating alert updates it and leaves it 'created': such a statement
    -- (every row 'created' before and after) changes no state, which two scans show without
    -- joining the transition tables (a third of a claim's time otherwise).
    IF NOT EXISTS (SELECT 1 FROM new_rows WHERE state <> 'created')
       AND NOT EXISTS (SELECT 1 FROM old_rows WHERE state <> 'created') THEN
        RETURN NULL;
    END IF;
    SELECT count(*) FILTER (WHERE illegal) AS illegal,
           array_agg(id ORDER BY id) FILTER (WHERE changed AND old_state = 'created') AS gone,
           array_agg(id ORDER BY id) FILTER (WHERE changed AND new_state = 'created') AS live
    INTO summary
    FROM (
        SELECT n.id, o.state AS old_state, n.state AS new_state,
               o.state <> n.state AS changed,
               -- The life cycle. Nothing else.
               o.state <> n.state
                 AND NOT (o.state = 'created' AND n.state IN ('triggered', 'paused', 'expired',
                                                              'deleted'))
                 AND NOT (o.state = 'paused' AND n.state IN ('created', 'expired', 'deleted'))
                 AND NOT (o.state IN ('triggered', 'expired') AND n.state = 'deleted')
                 AS illegal
        FROM old_rows o JOIN new_rows n USING (id)
    ) transitions;

    IF summary.illegal > 0 THEN
        SELECT o.id, o.state AS old_state, n.state AS new_state INTO bad
        FROM old_rows o JOIN new_rows n USING (id)
        WHERE o.state <> n.state
          AND NOT (o.state = 'created' AND n.state IN ('triggered', 'paused', 'expired',
                                                       'deleted'))
          AND NOT (o.state = 'paused' AND n.state IN ('created', 'expired', 'deleted'))
          AND NOT (o.state IN ('triggered', 'expired') AND n.state = 'deleted')
        LIMIT 1;
        RAISE EXCEPTION 'alert % cannot go from % to %', bad.id, bad.old_state, bad.new_state
            USING ERRCODE = 'check_violation';
    END IF;

    IF summary.gone IS NOT NULL THEN
        FOR first IN 1 .. cardinality(summary.gone) BY 300 LOOP
            PERFORM pg_notify('alerts', '{"op":"state","ids":['
                || array_to_string(summary.gone[first:first + 299], ',') || ']}');
        END LOOP;
    END IF;
    IF summary.live IS NOT NULL THEN
        FOR first IN 1 .. cardinality(summary.live) BY 300 LOOP
            PERFORM pg_notify('alerts', '{"op":"live","ids":['
                || array_to_string(summary.live[first:first + 299], ',') || ']}');
        END LOOP;
    END IF;
    RETURN NULL;
END $$;

-- 5. Creating alerts in batches, every kind: the items as a JSON array of objects whose keys
-- are the fields of new_alert, so a new field is a new attribute rather than a new parameter.
-- Same locking and cap as create_alerts of 0001; the cap counts 'created' alerts only.
-- One row back per item: (item, outcome, id, created_at), outcome 'created', 'no_user', 'cap'
-- or 'unknown_symbol'.
CREATE TYPE new_alert AS (
    user_id bigint, symbol text, trigger_condition text, target_price numeric, percent numeric,
    time_window text, frequency text, cooldown_seconds integer, expires_at timestamptz,
    email text, webhook_url text, webhook_format text, telegram_chat_id text
);

CREATE FUNCTION create_alert_items(p_items jsonb, p_cap bigint)
RETURNS TABLE (item integer, outcome text, alert_id bigint, created_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    items new_alert[] := ARRAY(
        SELECT jsonb_populate_record(NULL::new_alert, value)
        FROM jsonb_array_elements(p_items) WITH ORDINALITY ORDER BY ordinality
    );
    entry record;
    locked_user bigint;
    user_found boolean;
    live bigint;
    accepted integer[] := '{}';
    new_ids bigint[] := '{}';
BEGIN
    FOR entry IN
        SELECT i, (items[i]).user_id AS user_id, (items[i]).symbol AS symbol
        FROM generate_subscripts(items, 1) AS i
        ORDER BY (items[i]).user_id, i
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
        ELSIF NOT EXISTS (SELECT 1 FROM symbols s WHERE s.symbol = entry.symbol) THEN
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
    -- One statement for the whole batch: one trigger run, one NOTIFY per 300 alerts.
    INSERT INTO alerts (id, user_id, symbol, trigger_condition, target_price, percent,
                        time_window, frequency, cooldown_seconds, expires_at, email,
                        webhook_url, webhook_format, telegram_chat_id)
    OVERRIDING SYSTEM VALUE
    SELECT new_ids[n], a.user_id, a.symbol, a.trigger_condition, a.target_price, a.percent,
           a.time_window, coalesce(a.frequency, 'once'), a.cooldown_seconds, a.expires_at, a.email,
           a.webhook_url, a.webhook_format, a.telegram_chat_id
    FROM generate_subscripts(accepted, 1) AS n, LATERAL (SELECT (items[accepted[n]]).*) AS a;
END $$;
