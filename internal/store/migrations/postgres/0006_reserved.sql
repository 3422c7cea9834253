-- Placeholder: version 6 belongs to another branch. This file only keeps the
-- numbering without a gap on the voice branch; delete it when merging the
-- branch that owns 0006.
SELECT 1;
