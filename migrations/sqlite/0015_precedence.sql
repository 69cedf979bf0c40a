-- Precedence, expiry and shadow mode of limits: among the limits of one family that match a
-- subject only the most specific apply; an expired limit no longer applies; a shadow limit
-- reports what it would refuse but never refuses.
ALTER TABLE limits ADD COLUMN family TEXT;
ALTER TABLE limits ADD COLUMN expires_at TEXT;
ALTER TABLE limits ADD COLUMN shadow INTEGER NOT NULL DEFAULT 0;
