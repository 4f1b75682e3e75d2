-- Schema v11: the reservation search index merges its segments in small steps, one per
-- indexed batch, instead of in FTS5's automatic bursts. FTS5 counts the leaf pages it
-- writes and, each time the count passes a multiple of 64, merges 64 pages per level of
-- the index inside that COMMIT: under a steady load of seat requests one commit in ten
-- took 10-40 ms (p99 33-46 ms once the index held 150,000 rows). `Store` now asks for a
-- bounded amount of merge work after each batch it indexes (see
-- `browse::index_queued_reservations`), so the same merging is spread over every batch.
-- The level-0 "crisis merge" (16 segments) stays as FTS5's own backstop.
INSERT INTO reservation_search (reservation_search, rank) VALUES ('automerge', 0);
