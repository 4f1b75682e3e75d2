-- Schema v13: the index behind "a rider's emails leave in order" holds only the rows that can
-- hold another back: one being sent, or one waiting for a later attempt (retried, or put
-- back during a pause). A newly queued row (next_attempt_at = created_at) is due at once and
-- blocks nothing, so it no longer enters an index keyed by its recipient: that insert landed
-- on a random page, ~4 µs of the writer's time per email, two emails per seat request.
-- The claim (`outbox::claim_due`) repeats this WHERE clause word for word: SQLite uses a
-- partial index only when the query states its condition.
DROP INDEX idx_outbox_unsent_recipient;
CREATE INDEX idx_outbox_recipient_blockers ON outbox (recipient, created_at)
    WHERE status = 'sending' OR (status = 'queued' AND next_attempt_at > created_at);
