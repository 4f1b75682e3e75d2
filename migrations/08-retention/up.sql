-- Schema v8: data care (retention job, `carette forget`): indexes only, no data change.
-- Every email names its trip (offer_id): anonymising a trip or a rider rewrites that
-- trip's emails, found here instead of by scanning the whole outbox. offer_id grows with
-- time, so inserts land near the right edge of this index.
CREATE INDEX idx_outbox_offer ON outbox (offer_id);
-- Sent emails whose stored context is not stripped yet: the daily job reads only these,
-- not every old email again (the WHERE must match the job's query word for word).
CREATE INDEX idx_outbox_unredacted ON outbox (sent_at) WHERE sent_at IS NOT NULL AND context <> '{}';
-- No index on passenger_email: `forget` is rare and may scan the reservations once, while
-- a random-key index would cost every seat request (migration 05 dropped the old one).
