-- Notifications: what each user is told (in-app), how it went out on each
-- channel, which event produced it (exactly once per event and recipient),
-- per-user counters kept by triggers, and each user's preferences.

CREATE TABLE notifications (
    id                  TEXT PRIMARY KEY,
    recipient_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sender_id           TEXT,
    type                TEXT NOT NULL,
    category            TEXT NOT NULL CHECK (category IN ('booking','payment','social','message','system','achievement')),
    title               TEXT NOT NULL,
    body                TEXT NOT NULL,
    image               TEXT,
    action_data         TEXT,
    deep_link           TEXT,
    related_booking     TEXT,
    related_post        TEXT,
    related_review      TEXT,
    related_message     TEXT,
    related_transaction TEXT,
    is_read             INTEGER NOT NULL DEFAULT 0,
    read_at             INTEGER,
    delivery_status     TEXT NOT NULL DEFAULT '{}',
    priority            TEXT NOT NULL DEFAULT 'normal' CHECK (priority IN ('low','normal','high','urgent')),
    expires_at          INTEGER,
    is_grouped          INTEGER NOT NULL DEFAULT 0,
    group_key           TEXT,
    group_count         INTEGER NOT NULL DEFAULT 1,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);
-- The list: newest first per recipient.
CREATE INDEX notifications_recipient_created ON notifications (recipient_id, created_at DESC, id DESC);
-- Grouping looks for an unread one of the same type and key.
CREATE INDEX notifications_group ON notifications (recipient_id, type, group_key, created_at) WHERE is_read = 0 AND group_key IS NOT NULL;
-- Expiry: the purge and the "expired but not yet purged" count.
CREATE INDEX notifications_expiry ON notifications (expires_at, recipient_id) WHERE expires_at IS NOT NULL;

-- Which (event, recipient) pairs were already turned into a notification:
-- replaying the outbox creates nothing twice.
CREATE TABLE notification_sources (
    event_id     INTEGER NOT NULL,
    recipient_id TEXT NOT NULL,
    PRIMARY KEY (event_id, recipient_id)
) WITHOUT ROWID;

-- Per-user totals so the list's `total` and `unreadCount` cost one row read.
CREATE TABLE notification_counts (
    user_id TEXT PRIMARY KEY,
    total   INTEGER NOT NULL DEFAULT 0,
    unread  INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TRIGGER notifications_count_insert AFTER INSERT ON notifications BEGIN
    INSERT INTO notification_counts (user_id, total, unread) VALUES (NEW.recipient_id, 1, NEW.is_read = 0)
    ON CONFLICT (user_id) DO UPDATE SET total = total + 1, unread = unread + (NEW.is_read = 0);
END;
CREATE TRIGGER notifications_count_delete AFTER DELETE ON notifications BEGIN
    UPDATE notification_counts SET total = total - 1, unread = unread - (OLD.is_read = 0)
    WHERE user_id = OLD.recipient_id;
END;
CREATE TRIGGER notifications_count_read AFTER UPDATE OF is_read ON notifications
WHEN OLD.is_read <> NEW.is_read BEGIN
    UPDATE notification_counts SET unread = unread + (NEW.is_read = 0) - (OLD.is_read = 0)
    WHERE user_id = NEW.recipient_id;
END;

-- Preferences per channel and category, and quiet hours (JSON, see
-- notifications::model::Preferences); absent means the defaults.
CREATE TABLE notification_preferences (
    user_id    TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    prefs      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
