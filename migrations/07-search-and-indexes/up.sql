-- Schema v10: substring search for the operator TUI's text filter at a million rows.
-- Two trigram full-text indexes (reservations: passenger name, email, pickup; offers: places,
-- driver name and email), contentless and without positions (detail=none) so each write adds
-- as little as possible: they only narrow the candidates, and the TUI's query re-checks each
-- candidate with the same LIKE as before, so results are exactly those of the old filter.
-- Kept by triggers, so the daemon, `forget`, retention and the operator's own SQL keep them right.

CREATE VIRTUAL TABLE reservation_search USING fts5 (
    body, content = '', contentless_delete = 1, tokenize = 'trigram', detail = 'none'
);
CREATE VIRTUAL TABLE offer_search USING fts5 (
    body, content = '', contentless_delete = 1, tokenize = 'trigram', detail = 'none'
);

INSERT INTO reservation_search (rowid, body)
SELECT id, passenger_name || ' ' || passenger_email || ' ' || coalesce(pickup, '')
FROM carpool_reservations;
INSERT INTO offer_search (rowid, body)
SELECT id, origin || ' ' || destination || ' ' || driver_name || ' ' || driver_email
FROM carpool_offers;

CREATE TRIGGER reservation_search_insert AFTER INSERT ON carpool_reservations BEGIN
    INSERT INTO reservation_search (rowid, body)
    VALUES (new.id, new.passenger_name || ' ' || new.passenger_email || ' ' || coalesce(new.pickup, ''));
END;
CREATE TRIGGER reservation_search_update
AFTER UPDATE OF passenger_name, passenger_email, pickup ON carpool_reservations BEGIN
    DELETE FROM reservation_search WHERE rowid = old.id;
    INSERT INTO reservation_search (rowid, body)
    VALUES (new.id, new.passenger_name || ' ' || new.passenger_email || ' ' || coalesce(new.pickup, ''));
END;
CREATE TRIGGER reservation_search_delete AFTER DELETE ON carpool_reservations BEGIN
    DELETE FROM reservation_search WHERE rowid = old.id;
END;

CREATE TRIGGER offer_search_insert AFTER INSERT ON carpool_offers BEGIN
    INSERT INTO offer_search (rowid, body)
    VALUES (new.id, new.origin || ' ' || new.destination || ' ' || new.driver_name || ' ' || new.driver_email);
END;
CREATE TRIGGER offer_search_update
AFTER UPDATE OF origin, destination, driver_name, driver_email ON carpool_offers BEGIN
    DELETE FROM offer_search WHERE rowid = old.id;
    INSERT INTO offer_search (rowid, body)
    VALUES (new.id, new.origin || ' ' || new.destination || ' ' || new.driver_name || ' ' || new.driver_email);
END;
CREATE TRIGGER offer_search_delete AFTER DELETE ON carpool_offers BEGIN
    DELETE FROM offer_search WHERE rowid = old.id;
END;


-- Every index on the outbox is paid on each email queued. The claim walks the queue in
-- creation order (idx_outbox_queue), and the crash reclaim finds 'sending' rows through the
-- same index's status prefix: the older (status, next_attempt_at) index serves nothing.
DROP INDEX idx_outbox_due;
