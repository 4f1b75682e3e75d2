-- Schema v9: each rider's language ("fr" or "en"), chosen when the offer or the seat
-- request is created; emails and link pages are rendered in it. Riders created before
-- this migration only ever wrote French, hence the default.
ALTER TABLE carpool_offers ADD COLUMN lang TEXT NOT NULL DEFAULT 'fr' CHECK (lang IN ('fr', 'en'));
ALTER TABLE carpool_reservations ADD COLUMN lang TEXT NOT NULL DEFAULT 'fr' CHECK (lang IN ('fr', 'en'));
