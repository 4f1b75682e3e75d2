-- Schema v5: calendar identity and counters, outbox counts, indexes for the hot queries.

-- This install's random id (kept with the data): calendar UIDs are
-- `reservation-<id>.<install_id>@<base_url host>`, so two installs, or a rebuilt
-- database, never update or cancel each other's events in a rider's calendar.
CREATE TABLE install (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    install_id TEXT    NOT NULL,
    created_at TEXT    NOT NULL
);
INSERT INTO install (id, install_id, created_at)
    VALUES (1, lower(hex(randomblob(16))), strftime('%Y-%m-%d %H:%M:%S', 'now'));

-- SEQUENCE of the driver's trip event: bumped each time an email carrying it is queued,
-- so it strictly increases (it used to come from the clock).
ALTER TABLE carpool_offers ADD COLUMN calendar_sequence INTEGER NOT NULL DEFAULT 0;

-- Outbox counts by status, kept by triggers like reservation_status_counts (migration 03):
-- stats, the TUI and /metrics read a handful of rows instead of counting millions. Upserts,
-- so a status added later is counted too.
CREATE TABLE outbox_status_counts (
    status TEXT    PRIMARY KEY,
    n      INTEGER NOT NULL
);
INSERT INTO outbox_status_counts (status, n)
    SELECT s.status, (SELECT COUNT(*) FROM outbox o WHERE o.status = s.status)
    FROM (SELECT 'queued' AS status UNION ALL SELECT 'sending' UNION ALL SELECT 'sent'
          UNION ALL SELECT 'failed') s;
INSERT INTO outbox_status_counts (status, n)
    SELECT status, COUNT(*) FROM outbox
    WHERE status NOT IN ('queued', 'sending', 'sent', 'failed') GROUP BY status;

CREATE TRIGGER outbox_counts_insert AFTER INSERT ON outbox
BEGIN
    INSERT INTO outbox_status_counts (status, n) VALUES (NEW.status, 1)
        ON CONFLICT (status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER outbox_counts_delete AFTER DELETE ON outbox
BEGIN
    UPDATE outbox_status_counts SET n = n - 1 WHERE status = OLD.status;
END;

CREATE TRIGGER outbox_counts_update AFTER UPDATE OF status ON outbox
WHEN OLD.status IS NOT NEW.status
BEGIN
    UPDATE outbox_status_counts SET n = n - 1 WHERE status = OLD.status;
    INSERT INTO outbox_status_counts (status, n) VALUES (NEW.status, 1)
        ON CONFLICT (status) DO UPDATE SET n = n + 1;
END;

-- Requests per UTC hour of creation, and how those were decided: the TUI's activity chart
-- (grouped by local day by the caller) reads ~720 rows for a month instead of every
-- request of the month. The current hour's row is the only page an insert touches.
CREATE TABLE reservation_hourly_counts (
    hour      TEXT    PRIMARY KEY,   -- 'YYYY-MM-DD HH', UTC
    created   INTEGER NOT NULL,
    confirmed INTEGER NOT NULL,
    refused   INTEGER NOT NULL
);
INSERT INTO reservation_hourly_counts (hour, created, confirmed, refused)
    SELECT substr(created_at, 1, 13), COUNT(*), SUM(status = 'confirmed'), SUM(status = 'refused')
    FROM carpool_reservations GROUP BY substr(created_at, 1, 13);

CREATE TRIGGER reservation_hourly_insert AFTER INSERT ON carpool_reservations
BEGIN
    INSERT INTO reservation_hourly_counts (hour, created, confirmed, refused)
        VALUES (substr(NEW.created_at, 1, 13), 1, NEW.status = 'confirmed', NEW.status = 'refused')
        ON CONFLICT (hour) DO UPDATE SET created = created + 1,
            confirmed = confirmed + (NEW.status = 'confirmed'),
            refused = refused + (NEW.status = 'refused');
END;

CREATE TRIGGER reservation_hourly_delete AFTER DELETE ON carpool_reservations
BEGIN
    UPDATE reservation_hourly_counts SET created = created - 1,
        confirmed = confirmed - (OLD.status = 'confirmed'),
        refused = refused - (OLD.status = 'refused')
    WHERE hour = substr(OLD.created_at, 1, 13);
END;

CREATE TRIGGER reservation_hourly_update AFTER UPDATE OF status, created_at ON carpool_reservations
WHEN OLD.status IS NOT NEW.status OR OLD.created_at IS NOT NEW.created_at
BEGIN
    UPDATE reservation_hourly_counts SET created = created - 1,
        confirmed = confirmed - (OLD.status = 'confirmed'),
        refused = refused - (OLD.status = 'refused')
    WHERE hour = substr(OLD.created_at, 1, 13);
    INSERT INTO reservation_hourly_counts (hour, created, confirmed, refused)
        VALUES (substr(NEW.created_at, 1, 13), 1, NEW.status = 'confirmed', NEW.status = 'refused')
        ON CONFLICT (hour) DO UPDATE SET created = created + 1,
            confirmed = confirmed + (NEW.status = 'confirmed'),
            refused = refused + (NEW.status = 'refused');
END;

-- "Emails sent today" and "logged today" read `channel` of today's sent rows: with channel
-- in the (partial) index they are answered from it alone. Without it, once ANALYZE had run
-- the planner preferred a full scan of the outbox to the index plus a lookup per row.
DROP INDEX idx_outbox_sent_at;
CREATE INDEX idx_outbox_sent_at ON outbox (sent_at, channel) WHERE sent_at IS NOT NULL;

-- The driver dashboard looks drivers up case-insensitively; a BINARY index cannot serve
-- `driver_email = ? COLLATE NOCASE`, so the index takes the lookup's collation instead.
DROP INDEX idx_offers_driver;
CREATE INDEX idx_offers_driver ON carpool_offers (driver_email COLLATE NOCASE, departure_at);

-- No query reads reservations by passenger_email alone (the duplicate check uses
-- idx_reservations_offer_passenger), and a random-key index dirties a random page per insert.
DROP INDEX idx_reservations_passenger;
