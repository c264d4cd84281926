-- Prices: the last trade price of each symbol a matcher replica follows, and one row per symbol
-- per minute of trades (open, high, low, close), kept 7 days. Written by the matcher
-- (matcher/prices.py) at most once a second, in one statement; read by the API
-- (GET /api/prices/, GET /api/prices/{symbol}/history/, and each alert's current_price).
--
-- Numeric like every other price: written as the decimal the trade was (at most 8 decimals and
-- 15 significant digits), read back as the same decimal.

-- Small (one row per followed symbol) and rewritten every second: room on each page for the
-- new row versions, so the updates stay HOT and the primary key is never touched.
CREATE TABLE prices (
    symbol text        PRIMARY KEY REFERENCES symbols (symbol) ON DELETE CASCADE,
    price  numeric     NOT NULL CHECK (price > 0),
    -- The trade's time (Binance T), not the time of the write.
    at     timestamptz NOT NULL
) WITH (fillfactor = 50);

-- The current minute of each symbol is rewritten every second (high, low, close merged): room
-- for those HOT updates too. Older minutes are never written again.
CREATE TABLE price_minutes (
    symbol text        NOT NULL REFERENCES symbols (symbol) ON DELETE CASCADE,
    -- The minute's start (trade time, UTC, whole minutes).
    minute timestamptz NOT NULL,
    open   numeric     NOT NULL,
    high   numeric     NOT NULL,
    low    numeric     NOT NULL,
    close  numeric     NOT NULL,
    PRIMARY KEY (symbol, minute),
    CHECK (low > 0 AND low <= open AND open <= high AND low <= close AND close <= high)
) WITH (fillfactor = 70);

-- The prune (minutes older than 7 days, once a minute): an index range, not a scan of the week.
CREATE INDEX price_minutes_by_minute ON price_minutes (minute);
