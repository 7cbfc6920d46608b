//! Money as the wire writes it: major units (KES 5000, 49.99) with at most
//! two decimals, kept as integer minor units. The one place that reads a
//! JSON amount exactly (no float tolerance: `5000.555` is refused, never
//! rounded), used by bookings and payments.

use serde_json::Value;

/// Why an amount was refused; the text completes "<Field> ..." messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoneyError {
    NotANumber,
    Negative,
    TooManyDecimals,
    TooLarge,
}

impl MoneyError {
    /// The message tail: "must have at most two decimals", ...
    pub fn as_str(self) -> &'static str {
        match self {
            MoneyError::NotANumber => "must be a number",
            MoneyError::Negative => "must be a positive amount",
            MoneyError::TooManyDecimals => "must have at most two decimals",
            MoneyError::TooLarge => "is too large",
        }
    }
}

/// Reads a non-negative major-unit amount (a JSON number or numeric
/// string) as minor units. A number is judged by its shortest decimal
/// text, exactly as the client wrote it: `5000.555` has three decimals.
pub fn parse_major(v: &Value) -> Result<i64, MoneyError> {
    let text = match v {
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => u.to_string(),
            (None, Some(_), _) => return Err(MoneyError::Negative),
            (_, _, Some(f)) if f.is_finite() && f < 0.0 => return Err(MoneyError::Negative),
            (_, _, Some(f)) if f.is_finite() => {
                let t = format!("{f}");
                if t.contains('e') {
                    return Err(MoneyError::TooLarge);
                }
                t
            }
            _ => return Err(MoneyError::NotANumber),
        },
        Value::String(s) => {
            let s = s.trim();
            if s.starts_with('-') {
                return Err(MoneyError::Negative);
            }
            s.to_string()
        }
        _ => return Err(MoneyError::NotANumber),
    };
    parse_decimal(&text)
}

/// `"1500.5"` → 150050; digits, an optional point and at most two decimals.
pub fn parse_decimal(text: &str) -> Result<i64, MoneyError> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if int.is_empty() && frac.is_empty() || text.ends_with('.') {
        return Err(MoneyError::NotANumber);
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(MoneyError::NotANumber);
    }
    if frac.len() > 2 {
        return Err(MoneyError::TooManyDecimals);
    }
    if int.len() > 12 {
        return Err(MoneyError::TooLarge);
    }
    let whole: i64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| MoneyError::NotANumber)?
    };
    let cents: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().map_err(|_| MoneyError::NotANumber)? * 10,
        _ => frac.parse().map_err(|_| MoneyError::NotANumber)?,
    };
    Ok(whole * 100 + cents)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn amounts_are_read_exactly() {
        let cases = [
            (json!(5000), Ok(500_000)),
            (json!(19.99), Ok(1999)),
            (json!(0.1), Ok(10)),
            (json!("1500.5"), Ok(150_050)),
            (json!(".5"), Ok(50)),
            (json!(5000.555), Err(MoneyError::TooManyDecimals)),
            (json!(1.005), Err(MoneyError::TooManyDecimals)),
            (json!("1.234"), Err(MoneyError::TooManyDecimals)),
            (json!(-1), Err(MoneyError::Negative)),
            (json!(-0.5), Err(MoneyError::Negative)),
            (json!("-3"), Err(MoneyError::Negative)),
            (json!("abc"), Err(MoneyError::NotANumber)),
            (json!("5."), Err(MoneyError::NotANumber)),
            (json!(true), Err(MoneyError::NotANumber)),
            (json!(1e300), Err(MoneyError::TooLarge)),
            (json!("1234567890123"), Err(MoneyError::TooLarge)),
        ];
        for (v, want) in cases {
            assert_eq!(parse_major(&v), want, "{v}");
        }
    }
}
