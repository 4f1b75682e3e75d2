-- Schema v10: new reservations reach the search index once per commit, not once per row.
-- An FTS5 table flushes its pending terms to a new segment at every savepoint, and SQLite
-- opens one for each statement that may need a statement journal: with the index written
-- by an AFTER INSERT trigger, every later write of the same transaction (each request of a
-- commit group) flushed a segment, a tenth of the daemon's CPU under load. The trigger now
-- queues the id in a plain table; `Store` indexes the queue just before each COMMIT (and at
-- open, for rows an outside process added), in the same transaction, so a committed
-- reservation is always searchable. The search also takes queued ids as candidates.

CREATE TABLE reservation_search_pending (
    reservation_id INTEGER PRIMARY KEY
);

DROP TRIGGER reservation_search_insert;
CREATE TRIGGER reservation_search_insert AFTER INSERT ON carpool_reservations BEGIN
    INSERT OR IGNORE INTO reservation_search_pending (reservation_id) VALUES (new.id);
END;

-- A queued row is indexed with its content at commit time: nothing to do on update.
DROP TRIGGER reservation_search_update;
CREATE TRIGGER reservation_search_update
AFTER UPDATE OF passenger_name, passenger_email, pickup ON carpool_reservations
WHEN NOT EXISTS (SELECT 1 FROM reservation_search_pending WHERE reservation_id = old.id)
BEGIN
    DELETE FROM reservation_search WHERE rowid = old.id;
    INSERT INTO reservation_search (rowid, body)
    VALUES (new.id, new.passenger_name || ' ' || new.passenger_email || ' ' || coalesce(new.pickup, ''));
END;

DROP TRIGGER reservation_search_delete;
CREATE TRIGGER reservation_search_delete AFTER DELETE ON carpool_reservations BEGIN
    DELETE FROM reservation_search WHERE rowid = old.id
        AND NOT EXISTS (SELECT 1 FROM reservation_search_pending WHERE reservation_id = old.id);
    DELETE FROM reservation_search_pending WHERE reservation_id = old.id;
END;

-- The per-recipient counters, keyed by address first: the cap check of one address is one
-- seek and a range of at most 7 rows, where the old (slot, address) key took 7 seeks, an
-- `IN` list SQLite built a temporary B-tree for on every request. Expired slots are
-- pruned once per slot (a scan of a table that only holds the last hour's addresses).
CREATE TABLE recipient_email_counts_by_address (
    address    TEXT    NOT NULL,
    slot_start INTEGER NOT NULL,   -- unix seconds, a multiple of 600
    n          INTEGER NOT NULL CHECK (n >= 1),
    PRIMARY KEY (address, slot_start)
) WITHOUT ROWID;
INSERT INTO recipient_email_counts_by_address (address, slot_start, n)
SELECT address, slot_start, n FROM recipient_email_counts;
DROP TABLE recipient_email_counts;
ALTER TABLE recipient_email_counts_by_address RENAME TO recipient_email_counts;
