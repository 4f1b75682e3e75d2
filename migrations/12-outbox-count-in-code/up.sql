-- Schema v12: a new outbox row is counted by the code that queues it (`outbox::enqueue`),
-- no longer by an AFTER INSERT trigger. A trigger makes the INSERT a multi-statement write,
-- so SQLite kept a statement journal for it and copied each page it touched (the outbox
-- table and its indexes) into memory first: 6 % of the writer thread's time on the seat
-- request, which queues two emails. Status changes and deletions keep their triggers.
DROP TRIGGER outbox_counts_insert;
