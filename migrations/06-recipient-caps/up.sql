-- Emails that other people's actions (seat requests, fresh-link resends, link answers)
-- caused to each address, per 10-minute slot: the email.max_per_recipient_per_hour check reads the last
-- 7 slots of one address (7 point lookups) and bumps one counter.
-- The key starts with the slot, so every write lands at the right edge of the B-tree
-- (the current slot) and old slots are pruned as one contiguous range; a random-key
-- index on outbox(recipient) would instead dirty a random leaf of an ever-growing index
-- on each email, and the count would scan every email of the address ever sent.
-- Addresses are stored lowercased. Nothing here is contract; rows older than ~70 minutes
-- are deleted as new ones come.
CREATE TABLE recipient_email_counts (
    slot_start INTEGER NOT NULL,   -- unix seconds, a multiple of 600
    address    TEXT    NOT NULL,
    n          INTEGER NOT NULL CHECK (n >= 1),
    PRIMARY KEY (slot_start, address)
) WITHOUT ROWID;
