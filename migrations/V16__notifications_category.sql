-- The list filtered by category (`GET /notifications?category=`): its page
-- walks this index in the list's order (no sort) and its count reads only
-- this index (expires_at is in it), instead of every row of the recipient.
-- Checked by the EXPLAIN QUERY PLAN test in src/notifications/store.rs.
CREATE INDEX notifications_recipient_category
    ON notifications (recipient_id, category, created_at DESC, id DESC, expires_at);
