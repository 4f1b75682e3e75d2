-- Placeholder for schema v4 (owned by the h-delivery branch): rusqlite_migration needs
-- consecutive ids. Delete this directory when h-delivery's 04 is merged.
SELECT 1;
