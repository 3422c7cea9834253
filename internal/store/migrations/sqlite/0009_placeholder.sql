-- Placeholder so that 0010 applies on this branch: number 0009 belongs to a
-- migration of a parallel branch. DELETE THIS FILE when that branch is merged
-- (the loader refuses duplicate numbers, so a merge that keeps it fails loudly).
SELECT 1;
