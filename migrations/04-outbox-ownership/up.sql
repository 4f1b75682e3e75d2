-- Schema v4: who holds an outbox claim, and how a sent email left.
--
-- Every sender instance (one per daemon or `carette jobs` process start) registers here with
-- a random id and holds an OS lock on `<database>-senders/<id>.lock` for as long as it lives.
-- A starting sender that can take another instance's lock knows that process is gone and
-- puts its claims back in the queue at once, instead of waiting for `email.outbox_lease_secs`.
CREATE TABLE outbox_senders (
    id         TEXT    PRIMARY KEY,          -- random per process start
    pid        INTEGER NOT NULL,             -- for the operator; liveness comes from the lock
    started_at TEXT    NOT NULL
);

-- The claim: which sender holds the row (outbox_senders.id) and which of its claims, so an
-- outcome is recorded only by the claim that still holds the row.
ALTER TABLE outbox ADD COLUMN lease_owner TEXT;
ALTER TABLE outbox ADD COLUMN lease_claim INTEGER;
-- How a `sent` row left: 'smtp' (the server accepted it) or 'file' (dev mode .eml).
-- Rows sent before this version are taken as SMTP.
ALTER TABLE outbox ADD COLUMN channel TEXT CHECK (channel IN ('smtp', 'file'));
UPDATE outbox SET channel = 'smtp' WHERE status = 'sent';

-- The claim takes the oldest due emails first (created_at), whatever their retry history.
CREATE INDEX idx_outbox_queue ON outbox (status, created_at);
-- A rider's emails leave in order: the claim skips a row while an older one to the same
-- address is unsent. Partial, so it holds only the (few) unsent rows.
CREATE INDEX idx_outbox_unsent_recipient ON outbox (recipient, created_at)
    WHERE status IN ('queued', 'sending');
