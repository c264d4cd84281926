-- One vocabulary (shared/vocabulary.py): a kind's fields and an alert's channels each kept in
-- one typed column, so that a new kind or channel needs no migration, only its declaration.
--
-- params:   the kind's fields beyond target_price (a column of its own, as every level kind
--           has one), each as its text: {"percent": "2.5", "window": "1h"}; {} for a level.
-- channels: every channel the alert has, by name, as the message carries them:
--           {"email": "a@b.c", "webhook": {"url": "...", "format": "standard"}, "telegram": "@x"}.
--
-- Which kinds and channels exist, and which fields each kind has, are CHECK constraints that
-- `pricealert migrate` writes from the declarations after this file (shared/constraints.py),
-- recording the names it allowed in schema_vocabulary.

CREATE TABLE schema_vocabulary (
    list text NOT NULL,  -- 'kind', 'channel'
    name text NOT NULL,
    PRIMARY KEY (list, name)
);

ALTER TABLE alerts
    ADD COLUMN params jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN channels jsonb;

UPDATE alerts SET
    params = jsonb_strip_nulls(jsonb_build_object('percent', percent::text, 'window', time_window)),
    channels = jsonb_strip_nulls(jsonb_build_object(
        'email', email,
        'webhook', CASE WHEN webhook_url IS NOT NULL
                        THEN jsonb_build_object('url', webhook_url, 'format', webhook_format) END,
        'telegram', telegram_chat_id));

ALTER TABLE alerts ALTER COLUMN channels SET NOT NULL;

-- The lists these replaced are the vocabulary's constraints now.
ALTER TABLE alerts
    DROP CONSTRAINT alerts_trigger_condition_check,
    DROP CONSTRAINT alerts_have_a_channel,
    DROP CONSTRAINT alerts_webhook_has_a_format,
    DROP CONSTRAINT alerts_level_has_a_target,
    DROP CONSTRAINT alerts_move_has_percent_and_window;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_channel_check;

-- A reference is for the kinds that record one; which those are is the vocabulary's to say,
-- and the matcher records it only for them.
ALTER TABLE alerts DROP CONSTRAINT alerts_reference_is_for_crossing;

DROP FUNCTION create_alert_items(jsonb, bigint);
DROP TYPE new_alert;
DROP FUNCTION create_alerts(bigint[], text[], text[], numeric[], text[], bigint);

ALTER TABLE alerts
    DROP COLUMN percent,
    DROP COLUMN time_window,
    DROP COLUMN email,
    DROP COLUMN webhook_url,
    DROP COLUMN webhook_format,
    DROP COLUMN telegram_chat_id;

-- Creating alerts in batches, every kind: the items as a JSON array of objects with the keys of
-- new_alert (params and channels as objects). Locking, cap and outcomes as in migration 0006.
CREATE TYPE new_alert AS (
    user_id bigint, symbol text, trigger_condition text, target_price numeric, params jsonb,
    frequency text, cooldown_seconds integer, expires_at timestamptz, channels jsonb
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
    INSERT INTO alerts (id, user_id, symbol, trigger_condition, target_price, params, frequency,
                        cooldown_seconds, expires_at, channels)
    OVERRIDING SYSTEM VALUE
    SELECT new_ids[n], a.user_id, a.symbol, a.trigger_condition, a.target_price,
           coalesce(a.params, '{}'), coalesce(a.frequency, 'once'), a.cooldown_seconds,
           a.expires_at, a.channels
    FROM generate_subscripts(accepted, 1) AS n, LATERAL (SELECT (items[accepted[n]]).*) AS a;
END $$;
