-- Community feed: posts, their likes, bookmarks, shares, comments and hashtags.
-- Counters on `posts` are kept equal to their tables in the transaction that
-- changes them; views are counted apart (`post_views`), so a read never
-- rewrites the post row.

CREATE TABLE posts (
    id              TEXT PRIMARY KEY,
    author_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type            TEXT NOT NULL CHECK (type IN ('text','image','video','portfolio','tip','question')),
    caption         TEXT NOT NULL DEFAULT '',
    -- JSON array of {type, url, publicId, thumbnail, width, height, size, order}
    media           TEXT NOT NULL DEFAULT '[]',
    -- JSON array of strings, as served.
    hashtags        TEXT NOT NULL DEFAULT '[]',
    -- JSON array of user ids.
    mentions        TEXT NOT NULL DEFAULT '[]',
    -- JSON object, portfolio posts only.
    portfolio       TEXT,
    visibility      TEXT NOT NULL DEFAULT 'public' CHECK (visibility IN ('public','followers','private')),
    status          TEXT NOT NULL DEFAULT 'published' CHECK (status IN ('published','removed')),
    likes_count     INTEGER NOT NULL DEFAULT 0 CHECK (likes_count >= 0),
    comments_count  INTEGER NOT NULL DEFAULT 0 CHECK (comments_count >= 0),
    shares_count    INTEGER NOT NULL DEFAULT 0 CHECK (shares_count >= 0),
    bookmarks_count INTEGER NOT NULL DEFAULT 0 CHECK (bookmarks_count >= 0),
    edited_at       INTEGER,
    deleted_at      INTEGER,
    deleted_by      TEXT,
    delete_reason   TEXT,
    -- Set when an admin removed the post (moderation).
    removal_reason  TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
-- The feed: newest published first.
CREATE INDEX posts_recent ON posts (created_at DESC, id DESC) WHERE status = 'published';
CREATE INDEX posts_by_author ON posts (author_id, created_at DESC) WHERE status = 'published';
CREATE INDEX posts_by_type ON posts (type, created_at DESC) WHERE status = 'published';
-- The few non-public posts, by author: a viewer's own and followed
-- followers-only posts are counted through it, not through every post of
-- the authors they follow.
CREATE INDEX posts_non_public ON posts (author_id, visibility)
    WHERE status = 'published' AND visibility <> 'public';

-- Published public posts in all (`*`) and per type: the feed's `total`
-- without counting a million rows. Kept in the transaction of each change.
CREATE TABLE post_totals (
    scope TEXT PRIMARY KEY,
    n     INTEGER NOT NULL DEFAULT 0 CHECK (n >= 0)
);

-- Lower-case hashtags of published posts, for the `hashtag` filter.
CREATE TABLE post_hashtags (
    tag        TEXT NOT NULL,
    post_id    TEXT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tag, created_at, post_id)
) WITHOUT ROWID;
CREATE INDEX post_hashtags_post ON post_hashtags (post_id);

-- One row per user and post: the like toggle can only ever add or remove it.
CREATE TABLE post_likes (
    post_id    TEXT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (post_id, user_id)
) WITHOUT ROWID;

CREATE TABLE post_bookmarks (
    post_id    TEXT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (post_id, user_id)
) WITHOUT ROWID;
CREATE INDEX post_bookmarks_user ON post_bookmarks (user_id, created_at);

-- Every share (the same user may share many times).
CREATE TABLE post_shares (
    id         TEXT PRIMARY KEY,
    post_id    TEXT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
);
CREATE INDEX post_shares_post ON post_shares (post_id, created_at);

CREATE TABLE post_comments (
    id         TEXT PRIMARY KEY,
    post_id    TEXT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    text       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX post_comments_post ON post_comments (post_id, created_at);

-- Views, flushed in batches from memory (see posts::views).
CREATE TABLE post_views (
    post_id TEXT PRIMARY KEY REFERENCES posts (id) ON DELETE CASCADE,
    n       INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
