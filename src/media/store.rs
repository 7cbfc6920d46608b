//! SQL for the media tables, and what other modules may ask about media.
//!
//! Posts, bookings and reviews keep media by `publicId` (or our 24-hex `id`).
//! They check what a user attaches with [`owned_media`], and show what they
//! hold with [`media_refs`], which marks items deleted since as removed.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::ids::is_valid_id;
use crate::media::model::{Format, Kind, MediaItem};

const COLUMNS: &str = "id, public_id, owner_id, folder, format, width, height, size_bytes, \
     duration_ms, has_thumbnail, original_name, created_at, updated_at";

fn item_from_row(r: &Row) -> rusqlite::Result<MediaItem> {
    let format: String = r.get(4)?;
    Ok(MediaItem {
        id: r.get(0)?,
        public_id: r.get(1)?,
        owner_id: r.get(2)?,
        folder: r.get(3)?,
        format: Format::from_ext(&format).unwrap_or(Format::Jpeg),
        width: r.get(5)?,
        height: r.get(6)?,
        size: r.get::<_, i64>(7)? as u64,
        duration_ms: r.get(8)?,
        has_thumbnail: r.get(9)?,
        original_name: r.get(10)?,
        created_at: r.get(11)?,
        updated_at: r.get(12)?,
    })
}

/// Records a stored file.
pub fn insert(conn: &Connection, m: &MediaItem) -> ApiResult<()> {
    conn.prepare_cached(
        "INSERT INTO media (id, public_id, owner_id, folder, kind, format, width, height, size_bytes,
                            duration_ms, has_thumbnail, original_name, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        m.id,
        m.public_id,
        m.owner_id,
        m.folder,
        m.kind().as_str(),
        m.format.ext(),
        m.width,
        m.height,
        m.size as i64,
        m.duration_ms,
        m.has_thumbnail,
        m.original_name,
        m.created_at,
        m.updated_at
    ])?;
    Ok(())
}

/// The item with this publicId.
pub fn find_by_public_id(conn: &Connection, public_id: &str) -> ApiResult<Option<MediaItem>> {
    let sql = format!("SELECT {COLUMNS} FROM media WHERE public_id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([public_id], item_from_row)
        .optional()?)
}

/// The item with this 24-hex id or publicId.
pub fn find_by_key(conn: &Connection, key: &str) -> ApiResult<Option<MediaItem>> {
    if is_valid_id(key) {
        let sql = format!("SELECT {COLUMNS} FROM media WHERE id = ?1");
        if let Some(m) = conn
            .prepare_cached(&sql)?
            .query_row([key], item_from_row)
            .optional()?
        {
            return Ok(Some(m));
        }
    }
    find_by_public_id(conn, key)
}

/// Removes the row of a deleted item; false when it was already gone.
pub fn delete(conn: &Connection, id: &str) -> ApiResult<bool> {
    Ok(conn.execute("DELETE FROM media WHERE id = ?1", [id])? == 1)
}

/// Whether any row has this publicId (the orphan sweep asks).
pub fn public_id_exists(conn: &Connection, public_id: &str) -> ApiResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM media WHERE public_id = ?1")?
        .exists([public_id])?)
}

/// Spends a direct-upload grant's nonce; false when it was spent before.
pub fn spend_grant(
    conn: &Connection,
    nonce: &str,
    owner_id: &str,
    expires_at_ms: i64,
) -> ApiResult<bool> {
    let inserted = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO media_grant_uses (nonce, owner_id, used_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![nonce, owner_id, crate::ids::now_ms(), expires_at_ms])?;
    Ok(inserted == 1)
}

/// Forgets spent nonces of grants that have expired (they can no longer be replayed).
pub fn forget_expired_grants(conn: &Connection, now_ms: i64) -> ApiResult<usize> {
    Ok(conn.execute(
        "DELETE FROM media_grant_uses WHERE expires_at < ?1",
        [now_ms],
    )?)
}

/// A media item as a referrer (post, booking, review) shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaRef {
    pub id: String,
    pub public_id: String,
    pub kind: Kind,
    pub format: Format,
    pub url: String,
    pub thumbnail: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub size: u64,
}

impl MediaRef {
    fn of(m: &MediaItem, base: &str) -> MediaRef {
        MediaRef {
            id: m.id.clone(),
            public_id: m.public_id.clone(),
            kind: m.kind(),
            format: m.format,
            url: m.url(base),
            thumbnail: m.thumbnail(base),
            width: m.width,
            height: m.height,
            size: m.size,
        }
    }

    /// `{type, url, publicId, thumbnail, width, height, format, size}`.
    pub fn to_json(&self) -> Value {
        json!({
            "type": self.kind.as_str(),
            "url": self.url,
            "publicId": self.public_id,
            "thumbnail": self.thumbnail,
            "width": self.width,
            "height": self.height,
            "format": self.format.ext(),
            "size": self.size,
        })
    }
}

/// What a referrer holds: the item, or a marker that it was deleted.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaSlot {
    Present(MediaRef),
    /// Deleted (or never existed); carries the key the referrer kept.
    Removed(String),
}

impl MediaSlot {
    /// The item's JSON, or `{publicId, url: null, removed: true}`.
    pub fn to_json(&self) -> Value {
        match self {
            MediaSlot::Present(r) => r.to_json(),
            MediaSlot::Removed(key) => json!({"publicId": key, "url": null, "removed": true}),
        }
    }
}

/// Checks that every key (publicId or 24-hex id) names an item owned by
/// `owner_id`, and returns them in the given order, duplicates dropped. An
/// unknown or foreign key is a 400 on `field` (`field[i]`) that does not
/// tell the two apart. `base` is `config.public_url`.
pub fn owned_media(
    conn: &Connection,
    base: &str,
    owner_id: &str,
    field: &str,
    keys: &[String],
) -> ApiResult<Vec<MediaRef>> {
    let mut out: Vec<MediaRef> = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let found = find_by_key(conn, key.trim())?.filter(|m| m.owner_id == owner_id);
        let Some(m) = found else {
            return Err(ApiError::field(
                format!("{field}[{i}]"),
                format!("Media not found: {key}"),
            ));
        };
        if !out.iter().any(|r| r.id == m.id) {
            out.push(MediaRef::of(&m, base));
        }
    }
    Ok(out)
}

/// The caller's own upload behind a picture a client sent, by its
/// `publicId` or the publicId inside a URL this server issued: KYC
/// documents and portfolio images must be the caller's uploads, never an
/// external URL or another user's media (a 400 on `field` otherwise, not
/// telling the cases apart). `base` is `config.public_url`.
pub fn owned_picture(
    conn: &Connection,
    base: &str,
    owner_id: &str,
    field: &str,
    url: &str,
    public_id: Option<&str>,
) -> ApiResult<MediaRef> {
    let key = public_id
        .map(String::from)
        .or_else(|| crate::media::model::public_id_from_url(url));
    let found = match key {
        Some(k) => find_by_key(conn, k.trim())?.filter(|m| m.owner_id == owner_id),
        None => None,
    };
    found.map(|m| MediaRef::of(&m, base)).ok_or_else(|| {
        ApiError::field(
            field,
            format!("{field} must be one of your own uploads (upload it first)"),
        )
    })
}

/// The current state of each key a referrer holds, in order: present, or
/// [`MediaSlot::Removed`] when the item was deleted. Never fails on an
/// unknown key. `base` is `config.public_url`.
pub fn media_refs(conn: &Connection, base: &str, keys: &[String]) -> ApiResult<Vec<MediaSlot>> {
    keys.iter()
        .map(|key| {
            Ok(match find_by_key(conn, key.trim())? {
                Some(m) => MediaSlot::Present(MediaRef::of(&m, base)),
                None => MediaSlot::Removed(key.clone()),
            })
        })
        .collect()
}
