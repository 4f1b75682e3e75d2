-- Schema v3: reservation counts by status, kept by triggers so the monitoring figures
-- (stats, TUI, /metrics) cost the same with a million reservations as with ten. Triggers
-- also follow the operator's own SQL writes, so the counts cannot drift.
CREATE TABLE reservation_status_counts (
    status TEXT    PRIMARY KEY,
    n      INTEGER NOT NULL
);
INSERT INTO reservation_status_counts (status, n)
    SELECT s.status, (SELECT COUNT(*) FROM carpool_reservations r WHERE r.status = s.status)
    FROM (SELECT 'pending' AS status UNION ALL SELECT 'confirmed' UNION ALL SELECT 'refused'
          UNION ALL SELECT 'expired' UNION ALL SELECT 'cancelled' UNION ALL SELECT 'removed') s;

CREATE TRIGGER reservation_counts_insert AFTER INSERT ON carpool_reservations
BEGIN
    UPDATE reservation_status_counts SET n = n + 1 WHERE status = NEW.status;
END;

CREATE TRIGGER reservation_counts_delete AFTER DELETE ON carpool_reservations
BEGIN
    UPDATE reservation_status_counts SET n = n - 1 WHERE status = OLD.status;
END;

CREATE TRIGGER reservation_counts_update AFTER UPDATE OF status ON carpool_reservations
WHEN OLD.status IS NOT NEW.status
BEGIN
    UPDATE reservation_status_counts SET n = n - 1 WHERE status = OLD.status;
    UPDATE reservation_status_counts SET n = n + 1 WHERE status = NEW.status;
END;
