-- The symbols follow the exchange: each matcher replica writes its exchange's list of tradable
-- symbols (Binance's exchangeInfo) at start and every MATCHER_SYMBOLS_REFRESH_SECONDS, in one
-- statement (matcher/listing.py): the listed ones upserted as 'trading', every other one marked
-- 'halted'. A symbol is never deleted: alerts reference it, and an alert on a halted symbol says
-- so (its JSON's symbol_status) instead of silently never firing.
--
-- status:       'trading' (alerts may name it) or 'halted' (the exchange no longer lists it as
--               trading: new alerts on it are refused); the seeded pairs start as 'trading', so
--               a matcher that never reaches the exchange (offline, --simulate) changes nothing.
-- last_seen_at: when the exchange's list last named it as trading (null: never yet).

UPDATE symbols SET status = 'trading';
ALTER TABLE symbols
    ALTER COLUMN status SET DEFAULT 'trading',
    ADD CONSTRAINT symbols_status_check CHECK (status IN ('trading', 'halted')),
    ADD COLUMN last_seen_at timestamptz;

-- Creating alerts in batches, as in migration 0009, with one outcome more: 'not_trading' for a
-- symbol the table has but the exchange has stopped trading.
CREATE OR REPLACE FUNCTION create_alert_items(p_items jsonb, p_cap bigint)
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
    symbol_status text;
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
        symbol_status := (SELECT s.status FROM symbols s WHERE s.symbol = entry.symbol);
        IF NOT user_found THEN
            outcome := 'no_user';
        ELSIF live >= p_cap THEN
            outcome := 'cap';
        ELSIF symbol_status IS NULL THEN
            outcome := 'unknown_symbol';
        ELSIF symbol_status <> 'trading' THEN
            outcome := 'not_trading';
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
