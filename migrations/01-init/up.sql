-- Carette schema v1.
-- Contract (SPEC): carpool_offers(id, driver_name, driver_email, origin, destination, departure_at, seats)
-- and carpool_reservations(id, offer_id, passenger_name, passenger_email, seats, status, created_at, updated_at).
-- Every timestamp is UTC text 'YYYY-MM-DD HH:MM:SS' so datetime('now', ...) comparisons work in sqlite3.
-- PRAGMAs (WAL, foreign_keys, busy_timeout) are set on each connection, never here.

CREATE TABLE carpool_offers (
    id              INTEGER PRIMARY KEY,
    driver_name     TEXT    NOT NULL,
    driver_email    TEXT    NOT NULL,
    origin          TEXT    NOT NULL,
    origin_lat      REAL,
    origin_lon      REAL,
    destination     TEXT    NOT NULL,
    destination_lat REAL,
    destination_lon REAL,
    departure_at    TEXT    NOT NULL,
    seats           INTEGER NOT NULL CHECK (seats >= 1),
    status          TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'cancelled')),
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL
);
CREATE INDEX idx_offers_driver ON carpool_offers (driver_email, departure_at);
CREATE INDEX idx_offers_departure ON carpool_offers (departure_at);

CREATE TABLE carpool_reservations (
    id                INTEGER PRIMARY KEY,
    offer_id          INTEGER NOT NULL REFERENCES carpool_offers (id),
    passenger_name    TEXT    NOT NULL,
    passenger_email   TEXT    NOT NULL,
    seats             INTEGER NOT NULL CHECK (seats >= 1),
    status            TEXT    NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'confirmed', 'refused', 'expired', 'cancelled', 'removed')),
    pickup            TEXT,
    pickup_lat        REAL,
    pickup_lon        REAL,
    message           TEXT,
    -- Computed by route recalculation (UTC); NULL until known.
    pickup_at         TEXT,
    pickup_order      INTEGER,
    calendar_sequence INTEGER NOT NULL DEFAULT 0,
    -- Set once the J-1 reminder emails are queued: reminders go out once, ever.
    reminded_at       TEXT,
    created_at        TEXT    NOT NULL,
    updated_at        TEXT    NOT NULL
);
CREATE INDEX idx_reservations_status_created ON carpool_reservations (status, created_at);
CREATE INDEX idx_reservations_offer ON carpool_reservations (offer_id, status);
CREATE INDEX idx_reservations_passenger ON carpool_reservations (passenger_email);
-- The duplicate-request check of a seat request.
CREATE INDEX idx_reservations_offer_passenger ON carpool_reservations (offer_id, passenger_email COLLATE NOCASE);

-- Audit trail: every transition, who made it, from which status to which.
CREATE TABLE reservation_events (
    id             INTEGER PRIMARY KEY,
    reservation_id INTEGER NOT NULL REFERENCES carpool_reservations (id),
    actor          TEXT    NOT NULL CHECK (actor IN ('driver', 'passenger', 'system', 'operator')),
    from_status    TEXT,
    to_status      TEXT    NOT NULL,
    at             TEXT    NOT NULL
);
CREATE INDEX idx_events_reservation ON reservation_events (reservation_id, id);

-- Transactional outbox: written in the same transaction as the state change it announces.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    template        TEXT    NOT NULL,
    recipient       TEXT    NOT NULL,
    reply_to        TEXT,
    context         TEXT    NOT NULL,            -- JSON, rendered at send time
    reservation_id  INTEGER REFERENCES carpool_reservations (id),
    offer_id        INTEGER REFERENCES carpool_offers (id),
    status          TEXT    NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT    NOT NULL,
    lease_until     TEXT,                        -- a claim; past it, the row is due again (crash recovery)
    last_error      TEXT,
    message_id      TEXT    NOT NULL UNIQUE,     -- stable across retries so receivers can de-duplicate
    created_at      TEXT    NOT NULL,
    sent_at         TEXT
);
CREATE INDEX idx_outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX idx_outbox_sent_at ON outbox (sent_at) WHERE sent_at IS NOT NULL;
CREATE INDEX idx_outbox_reservation ON outbox (reservation_id);

-- One row per scheduled slot a job has covered: due-ness, catch-up and DST all come from here.
CREATE TABLE job_runs (
    id          INTEGER PRIMARY KEY,
    job         TEXT    NOT NULL,
    slot        TEXT    NOT NULL,
    started_at  TEXT    NOT NULL,
    finished_at TEXT,
    ok          INTEGER NOT NULL DEFAULT 0,
    summary     TEXT,
    UNIQUE (job, slot)
);

-- Route recalculation state per offer (routing.osrm_url).
CREATE TABLE route_state (
    offer_id        INTEGER PRIMARY KEY REFERENCES carpool_offers (id),
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'ok', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    last_error      TEXT,
    updated_at      TEXT    NOT NULL
);
CREATE INDEX idx_route_state_due ON route_state (status, next_attempt_at);
