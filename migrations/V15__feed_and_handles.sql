-- The feed's per-author and per-type walks carry the id tie-break, so
-- `ORDER BY created_at DESC, id DESC` reads them in order instead of
-- sorting every post of an author or of a type (`type=tip` sorted ~170k
-- rows per page on 1M posts). The author index also holds `visibility`
-- and `type`, so the `following=true` feed picks its window from the
-- index alone.
DROP INDEX posts_by_author;
CREATE INDEX posts_by_author ON posts (author_id, created_at DESC, id DESC, visibility, type)
    WHERE status = 'published';
DROP INDEX posts_by_type;
CREATE INDEX posts_by_type ON posts (type, created_at DESC, id DESC) WHERE status = 'published';
-- With the type, a signed-in viewer's `type=` total counts their own and
-- followed non-public posts from this index alone.
DROP INDEX posts_non_public;
CREATE INDEX posts_non_public ON posts (author_id, visibility, type)
    WHERE status = 'published' AND visibility <> 'public';

-- Per author, the published posts their followers may see (public and
-- followers-only), in all (`*`) and per type: the `following=true` feed's
-- `total` is a sum over the accounts a viewer follows, not a count of
-- their posts. Kept in the transaction of each change, like `post_totals`.
CREATE TABLE post_author_totals (
    author_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope     TEXT NOT NULL,
    n         INTEGER NOT NULL DEFAULT 0 CHECK (n >= 0),
    PRIMARY KEY (author_id, scope)
) WITHOUT ROWID;
INSERT INTO post_author_totals (author_id, scope, n)
    SELECT author_id, '*', COUNT(*) FROM posts
    WHERE status = 'published' AND visibility <> 'private'
    GROUP BY author_id;
INSERT INTO post_author_totals (author_id, scope, n)
    SELECT author_id, type, COUNT(*) FROM posts
    WHERE status = 'published' AND visibility <> 'private'
    GROUP BY author_id, type;

-- Public posts per hashtag (scope `#<tag>`) beside all and per type: the
-- `hashtag=` feed's total (a popular tag counted ~12k joined rows a page).
INSERT INTO post_totals (scope, n)
    SELECT '#' || h.tag, COUNT(*) FROM post_hashtags h JOIN posts p ON p.id = h.post_id
    WHERE p.status = 'published' AND p.visibility = 'public'
    GROUP BY h.tag;

-- Each tag row carries its post's author and visibility, so a signed-in
-- viewer's `hashtag=` total counts their own and followed non-public
-- tagged posts from a small partial index (it joined every followers-only
-- post of the accounts they follow to its tags). Kept with the post.
ALTER TABLE post_hashtags ADD COLUMN author_id TEXT NOT NULL DEFAULT '';
ALTER TABLE post_hashtags ADD COLUMN visibility TEXT NOT NULL DEFAULT 'public';
UPDATE post_hashtags SET
    author_id = (SELECT p.author_id FROM posts p WHERE p.id = post_hashtags.post_id),
    visibility = (SELECT p.visibility FROM posts p WHERE p.id = post_hashtags.post_id);
CREATE INDEX post_hashtags_non_public ON post_hashtags (tag, author_id, visibility)
    WHERE visibility <> 'public';

-- A public handle per account (`@handle` in post captions resolves to it).
-- Lower-case ASCII letters, digits and `_`; assigned from the name at
-- sign-up (and to older accounts at start), changeable by the owner.
ALTER TABLE users ADD COLUMN handle TEXT;
CREATE UNIQUE INDEX users_handle ON users (handle) WHERE handle IS NOT NULL;
