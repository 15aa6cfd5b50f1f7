-- Provisional KPI rows are rewritten by nearly every batch until their
-- after window closes. Half-full pages leave room for the new version of
-- each row beside the old one, so the update is HOT (no index entry) even
-- when a batch rewrites every row of a page; with full pages about one in
-- seven was. Applies to the pages written from now on.
ALTER TABLE pairing_kpis SET (fillfactor = 50);
ALTER TABLE comparison_kpis SET (fillfactor = 50);
