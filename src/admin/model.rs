//! Pure rules of the admin routes: reading their query parameters and
//! shaping what the modules' functions return for the dashboard.

use serde::Serialize;
use serde_json::{json, Value};

use crate::error::FieldError;
use crate::payments::ledger::LedgerReport;

/// Days the overview covers when `days` is not given.
pub const DEFAULT_DAYS: u32 = 30;
/// The longest overview range, in days.
pub const MAX_DAYS: u32 = 366;

fn field(name: &str, message: &str) -> FieldError {
    FieldError {
        field: name.into(),
        message: message.into(),
    }
}

/// The overview's `days`: 1 to [`MAX_DAYS`], [`DEFAULT_DAYS`] when absent.
pub fn parse_days(raw: Option<&str>) -> Result<u32, FieldError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(DEFAULT_DAYS),
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|d| (1..=MAX_DAYS).contains(d))
            .ok_or_else(|| field("days", "days must be a whole number from 1 to 366")),
    }
}

/// An optional enumerated filter: `None` when absent or empty, the value
/// when it is one of `allowed`, else a 400 naming `name`.
pub fn parse_choice(
    raw: Option<&str>,
    name: &str,
    allowed: &[&str],
) -> Result<Option<String>, FieldError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) if allowed.contains(&s) => Ok(Some(s.to_string())),
        Some(_) => Err(field(
            name,
            &format!("{name} must be one of {}", allowed.join(", ")),
        )),
    }
}

/// A job id from the path; `None` (answered 404) when it cannot exist.
pub fn parse_job_id(raw: &str) -> Option<i64> {
    raw.trim().parse::<i64>().ok().filter(|id| *id > 0)
}

/// One setting as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigEntry {
    pub name: String,
    /// The effective value as text (strings unquoted); `********` for a set secret.
    pub value: String,
    /// Whether the value is a masked secret (never the secret itself).
    pub is_secret: bool,
    pub help: String,
}

/// The dashboard's view of `Config::describe()` (which already masks
/// secrets): string values unquoted, masked ones flagged.
pub fn config_entries(described: Vec<(String, String, String)>) -> Vec<ConfigEntry> {
    described
        .into_iter()
        .map(|(name, shown, help)| {
            let is_secret = shown == "\"********\"";
            let value = match shown.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
                None => shown,
            };
            ConfigEntry {
                name,
                value,
                is_secret,
                help,
            }
        })
        .collect()
}

/// The ledger check as JSON: the counts, each problem found (capped at 50
/// per kind) and whether every invariant holds.
pub fn ledger_json(r: &LedgerReport) -> Value {
    let mut problems: Vec<String> = Vec::new();
    problems.extend(
        r.unbalanced_entries
            .iter()
            .take(50)
            .map(|(id, sum)| format!("entry {id}: postings sum to {sum}")),
    );
    problems.extend(
        r.mixed_currency_entries
            .iter()
            .take(50)
            .map(|id| format!("entry {id}: postings in more than one currency")),
    );
    problems.extend(
        r.mismatched_accounts
            .iter()
            .take(50)
            .map(|(k, b, s)| format!("account {k}: balance {b}, postings sum {s}")),
    );
    problems.extend(
        r.negative_accounts
            .iter()
            .take(50)
            .map(|(k, b)| format!("account {k}: negative balance {b}")),
    );
    problems.extend(
        r.totals
            .iter()
            .filter(|(_, t)| *t != 0)
            .map(|(c, t)| format!("balances in {c} sum to {t}, not 0")),
    );
    json!({
        "success": true,
        "ok": r.is_ok(),
        "accounts": r.accounts,
        "entries": r.entries,
        "postings": r.postings,
        "totals": r.totals.iter().map(|(c, t)| json!({"currency": c, "totalMinor": t})).collect::<Vec<_>>(),
        "problems": problems,
        "summary": r.summary(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_default_bounds_and_junk() {
        let cases: [(Option<&str>, Result<u32, ()>); 7] = [
            (None, Ok(30)),
            (Some(""), Ok(30)),
            (Some(" 7 "), Ok(7)),
            (Some("366"), Ok(366)),
            (Some("0"), Err(())),
            (Some("367"), Err(())),
            (Some("-1x"), Err(())),
        ];
        for (raw, want) in cases {
            let got = parse_days(raw);
            assert_eq!(got.as_ref().ok().copied(), want.ok(), "{raw:?}");
            if let Err(e) = got {
                assert_eq!(e.field, "days");
            }
        }
    }

    #[test]
    fn choices_and_job_ids() {
        let allowed = ["queued", "dead"];
        assert_eq!(parse_choice(None, "status", &allowed).unwrap(), None);
        assert_eq!(parse_choice(Some(" "), "status", &allowed).unwrap(), None);
        assert_eq!(
            parse_choice(Some("dead"), "status", &allowed).unwrap(),
            Some("dead".into())
        );
        let e = parse_choice(Some("Dead"), "status", &allowed).unwrap_err();
        assert_eq!(e.field, "status");
        assert!(e.message.contains("queued, dead"));
        for (raw, want) in [("12", Some(12)), ("0", None), ("-3", None), ("x", None)] {
            assert_eq!(parse_job_id(raw), want, "{raw}");
        }
    }

    #[test]
    fn config_values_unquoted_and_secrets_flagged() {
        let rows = config_entries(vec![
            ("listen".into(), "\"0.0.0.0:5000\"".into(), "Where".into()),
            ("jwt_secret".into(), "\"********\"".into(), "Secret".into()),
            ("smtp_password".into(), "\"\"".into(), "Unset".into()),
            ("job_workers".into(), "4".into(), "Workers".into()),
        ]);
        let got: Vec<(&str, &str, bool)> = rows
            .iter()
            .map(|r| (r.name.as_str(), r.value.as_str(), r.is_secret))
            .collect();
        assert_eq!(
            got,
            [
                ("listen", "0.0.0.0:5000", false),
                ("jwt_secret", "********", true),
                ("smtp_password", "", false),
                ("job_workers", "4", false),
            ]
        );
    }

    #[test]
    fn ledger_problems_are_listed() {
        let ok = LedgerReport {
            accounts: 3,
            totals: vec![("KES".into(), 0)],
            ..Default::default()
        };
        let v = ledger_json(&ok);
        assert_eq!(
            (v["ok"].clone(), v["problems"].clone()),
            (json!(true), json!([]))
        );
        let bad = LedgerReport {
            unbalanced_entries: vec![(7, 5)],
            negative_accounts: vec![("wallet:u1".into(), -20)],
            totals: vec![("KES".into(), 5)],
            ..Default::default()
        };
        let v = ledger_json(&bad);
        assert_eq!(v["ok"], false);
        assert_eq!(
            v["problems"],
            json!([
                "entry 7: postings sum to 5",
                "account wallet:u1: negative balance -20",
                "balances in KES sum to 5, not 0"
            ])
        );
    }
}
