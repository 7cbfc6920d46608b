//! Pagination as the original clients send and read it.
//!
//! `page` defaults to 1 and `limit` to 20 (modules may pick another default,
//! e.g. 50 for messages); `limit` is capped at 100. Out-of-range or
//! non-numeric values are a 400 naming the parameter.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};

/// The raw `page` / `limit` query parameters; flatten it into a module's query struct.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page number, from 1.
    pub page: Option<String>,
    /// Items per page, 1 to 100.
    pub limit: Option<String>,
}

/// A validated page request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Page {
    pub page: u32,
    pub limit: u32,
}

/// The largest `limit` any list accepts.
pub const MAX_LIMIT: u32 = 100;

impl Page {
    /// Validates the raw parameters, with `default_limit` when `limit` is absent.
    pub fn parse(q: &PageQuery, default_limit: u32) -> ApiResult<Page> {
        Page::of(q.page.as_deref(), q.limit.as_deref(), default_limit)
    }

    /// [`Page::parse`] for a module's query struct that holds the raw
    /// `page` and `limit` itself (beside its own filters).
    pub fn of(page: Option<&str>, limit: Option<&str>, default_limit: u32) -> ApiResult<Page> {
        let page = parse_bounded(page, "page", 1, 1, 1_000_000)?;
        let limit = parse_bounded(limit, "limit", default_limit, 1, MAX_LIMIT)?;
        Ok(Page { page, limit })
    }

    /// Rows to skip.
    pub fn offset(&self) -> i64 {
        (self.page as i64 - 1) * self.limit as i64
    }

    /// Number of pages for `total` items (0 when there are none).
    pub fn pages(&self, total: i64) -> i64 {
        (total + self.limit as i64 - 1) / self.limit as i64
    }
}

fn parse_bounded(
    raw: Option<&str>,
    name: &str,
    default: u32,
    min: u32,
    max: u32,
) -> ApiResult<u32> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(default);
    };
    match raw.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::field(
            name,
            format!("{name} must be a whole number from {min} to {max}"),
        )),
    }
}

/// `{success, count, total, page, pages, <key>: items}`, the list shape of every module.
pub fn list_response(key: &str, items: Vec<Value>, total: i64, page: Page) -> Value {
    let mut body = Map::new();
    body.insert("success".into(), Value::Bool(true));
    body.insert("count".into(), Value::from(items.len()));
    body.insert("total".into(), Value::from(total));
    body.insert("page".into(), Value::from(page.page));
    body.insert("pages".into(), Value::from(page.pages(total)));
    body.insert("limit".into(), Value::from(page.limit));
    body.insert(key.into(), Value::Array(items));
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(page: Option<&str>, limit: Option<&str>) -> PageQuery {
        PageQuery {
            page: page.map(String::from),
            limit: limit.map(String::from),
        }
    }

    #[test]
    fn defaults_and_caps() {
        assert_eq!(
            Page::parse(&q(None, None), 20).unwrap(),
            Page { page: 1, limit: 20 }
        );
        assert_eq!(
            Page::parse(&q(Some("3"), Some("100")), 20)
                .unwrap()
                .offset(),
            200
        );
        assert!(Page::parse(&q(None, Some("101")), 20).is_err());
        assert!(Page::parse(&q(Some("0"), None), 20).is_err());
        assert!(Page::parse(&q(Some("x"), None), 20).is_err());
    }

    #[test]
    fn pages_round_up() {
        let p = Page { page: 1, limit: 20 };
        assert_eq!(p.pages(0), 0);
        assert_eq!(p.pages(20), 1);
        assert_eq!(p.pages(21), 2);
    }
}
