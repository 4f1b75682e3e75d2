-- Schema v8: data care (retention job, `carette forget`): indexes only, no data change.
-- Every email names its trip (offer_id): anonymising a trip or a rider rewrites that
-- trip's emails, found here instead of by scanning the whole outbox.
CREATE INDEX idx_outbox_offer ON outbox (offer_id);
-- Sent emails whose stored context is not stripped yet: the daily job reads only these,
-- not every old email again (the WHERE must match the job's query word for word).
CREATE INDEX idx_outbox_unredacted ON outbox (sent_at) WHERE sent_at IS NOT NULL AND context <> '{}';
-- `forget` looks a rider up without regard to case (as SMTP compares addresses); the
-- binary-collated index of 01 served no query, this one replaces it at the same cost.
DROP INDEX idx_reservations_passenger;
CREATE INDEX idx_reservations_passenger_email ON carpool_reservations (passenger_email COLLATE NOCASE);
