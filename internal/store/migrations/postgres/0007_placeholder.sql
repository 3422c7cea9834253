-- Placeholder so that 0008 applies on this branch: number 0007 belongs to a
-- migration of a parallel branch. DELETE THIS FILE when that branch is merged
-- (the loader refuses duplicate numbers, so a merge that keeps it fails loudly).
SELECT 1;
