-- Running money totals for the admin overview (and the platform-wide
-- transaction stats), so neither sums every transaction on each request.
--
-- One row per currency, kept by the triggers below on every insert,
-- update and delete of a transaction: they run inside the statement that
-- changes the row, so the totals commit or roll back with it and no code
-- path (routes, webhooks, background jobs, a bulk import) can let them
-- drift. Each figure is the same sum `payments::store::money_stats` takes
-- over all transactions:
--   spent            booking payments held, released or refunded: gross - refunded
--   earned           booking payments released: net
--   escrow held      booking payments held: gross - refunded
--   platform fees    booking payments released: platform fee
--   completed gross  any transaction with status completed: gross
CREATE TABLE admin_totals (
    currency              TEXT PRIMARY KEY,
    spent_minor           INTEGER NOT NULL DEFAULT 0,
    earned_minor          INTEGER NOT NULL DEFAULT 0,
    escrow_held_minor     INTEGER NOT NULL DEFAULT 0,
    platform_fees_minor   INTEGER NOT NULL DEFAULT 0,
    completed_gross_minor INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Backfill from the transactions already stored.
INSERT INTO admin_totals (currency, spent_minor, earned_minor, escrow_held_minor, platform_fees_minor,
                          completed_gross_minor)
SELECT currency,
       COALESCE(SUM(CASE WHEN type = 'booking_payment' AND stage IN ('held','released','refunded')
                         THEN gross_minor - refunded_minor END), 0),
       COALESCE(SUM(CASE WHEN type = 'booking_payment' AND stage = 'released' THEN net_minor END), 0),
       COALESCE(SUM(CASE WHEN type = 'booking_payment' AND stage = 'held' THEN gross_minor - refunded_minor END), 0),
       COALESCE(SUM(CASE WHEN type = 'booking_payment' AND stage = 'released' THEN platform_fee_minor END), 0),
       COALESCE(SUM(CASE WHEN status = 'completed' THEN gross_minor END), 0)
FROM transactions GROUP BY currency;

CREATE TRIGGER admin_totals_insert AFTER INSERT ON transactions
BEGIN
    INSERT OR IGNORE INTO admin_totals (currency) VALUES (NEW.currency);
    UPDATE admin_totals SET
        spent_minor = spent_minor + CASE WHEN NEW.type = 'booking_payment' AND NEW.stage IN ('held','released','refunded')
                                         THEN NEW.gross_minor - NEW.refunded_minor ELSE 0 END,
        earned_minor = earned_minor + CASE WHEN NEW.type = 'booking_payment' AND NEW.stage = 'released'
                                           THEN NEW.net_minor ELSE 0 END,
        escrow_held_minor = escrow_held_minor + CASE WHEN NEW.type = 'booking_payment' AND NEW.stage = 'held'
                                                     THEN NEW.gross_minor - NEW.refunded_minor ELSE 0 END,
        platform_fees_minor = platform_fees_minor + CASE WHEN NEW.type = 'booking_payment' AND NEW.stage = 'released'
                                                         THEN NEW.platform_fee_minor ELSE 0 END,
        completed_gross_minor = completed_gross_minor + CASE WHEN NEW.status = 'completed' THEN NEW.gross_minor ELSE 0 END
    WHERE currency = NEW.currency;
END;

CREATE TRIGGER admin_totals_update
AFTER UPDATE OF type, stage, status, currency, gross_minor, net_minor, platform_fee_minor, refunded_minor ON transactions
BEGIN
    UPDATE admin_totals SET
        spent_minor = spent_minor - CASE WHEN OLD.type = 'booking_payment' AND OLD.stage IN ('held','released','refunded')
                                         THEN OLD.gross_minor - OLD.refunded_minor ELSE 0 END,
        earned_minor = earned_minor - CASE WHEN OLD.type = 'booking_payment' AND OLD.stage = 'released'
                                           THEN OLD.net_minor ELSE 0 END,
        escrow_held_minor = escrow_held_minor - CASE WHEN OLD.type = 'booking_payment' AND OLD.stage = 'held'
                                                     THEN OLD.gross_minor - OLD.refunded_minor ELSE 0 END,
        platform_fees_minor = platform_fees_minor - CASE WHEN OLD.type = 'booking_payment' AND OLD.stage = 'released'
                                                         THEN OLD.platform_fee_minor ELSE 0 END,
        completed_gross_minor = completed_gross_minor - CASE WHEN OLD.status = 'completed' THEN OLD.gross_minor ELSE 0 END
    WHERE currency = OLD.currency;
    INSERT OR IGNORE INTO admin_totals (currency) VALUES (NEW.currency);
    UPDATE admin_totals SET
        spent_minor = spent_minor + CASE WHEN NEW.type = 'booking_payment' AND NEW.stage IN ('held','released','refunded')
                                         THEN NEW.gross_minor - NEW.refunded_minor ELSE 0 END,
        earned_minor = earned_minor + CASE WHEN NEW.type = 'booking_payment' AND NEW.stage = 'released'
                                           THEN NEW.net_minor ELSE 0 END,
        escrow_held_minor = escrow_held_minor + CASE WHEN NEW.type = 'booking_payment' AND NEW.stage = 'held'
                                                     THEN NEW.gross_minor - NEW.refunded_minor ELSE 0 END,
        platform_fees_minor = platform_fees_minor + CASE WHEN NEW.type = 'booking_payment' AND NEW.stage = 'released'
                                                         THEN NEW.platform_fee_minor ELSE 0 END,
        completed_gross_minor = completed_gross_minor + CASE WHEN NEW.status = 'completed' THEN NEW.gross_minor ELSE 0 END
    WHERE currency = NEW.currency;
END;

CREATE TRIGGER admin_totals_delete AFTER DELETE ON transactions
BEGIN
    UPDATE admin_totals SET
        spent_minor = spent_minor - CASE WHEN OLD.type = 'booking_payment' AND OLD.stage IN ('held','released','refunded')
                                         THEN OLD.gross_minor - OLD.refunded_minor ELSE 0 END,
        earned_minor = earned_minor - CASE WHEN OLD.type = 'booking_payment' AND OLD.stage = 'released'
                                           THEN OLD.net_minor ELSE 0 END,
        escrow_held_minor = escrow_held_minor - CASE WHEN OLD.type = 'booking_payment' AND OLD.stage = 'held'
                                                     THEN OLD.gross_minor - OLD.refunded_minor ELSE 0 END,
        platform_fees_minor = platform_fees_minor - CASE WHEN OLD.type = 'booking_payment' AND OLD.stage = 'released'
                                                         THEN OLD.platform_fee_minor ELSE 0 END,
        completed_gross_minor = completed_gross_minor - CASE WHEN OLD.status = 'completed' THEN OLD.gross_minor ELSE 0 END
    WHERE currency = OLD.currency;
END;

-- The overview's per-day completed figures read only this index (no
-- lookup of each booking row): the same partial index as before, with the
-- summed columns added.
DROP INDEX bookings_completed;
CREATE INDEX bookings_completed ON bookings (completed_at, status, total_amount_minor, platform_fee_minor)
    WHERE completed_at IS NOT NULL;
