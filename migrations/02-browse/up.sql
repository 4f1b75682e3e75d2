-- Schema v2: the operator TUI's listings and activity chart.
-- Reservations of every status in creation order (the "all" tab) and the per-day request
-- counts of the last 30 days both walk created_at; with status in the index the chart is
-- answered from the index alone. Nothing else changes: contract tables stay as they are.
CREATE INDEX idx_reservations_created ON carpool_reservations (created_at, status);
