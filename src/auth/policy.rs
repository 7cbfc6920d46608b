//! Input rules for accounts: email and phone normalisation, password policy.
//!
//! Emails are normalised exactly as the original server's `normalizeEmail()`
//! did (lowercase; Gmail dots and `+tags` removed; sub-addresses removed for
//! Outlook, Yahoo and iCloud) so accounts created there are still found.
//! Phones are stored in E.164; Kenyan `07…`/`01…`/`2547…` forms become `+254…`.

/// The most common passwords, refused at registration and reset.
const COMMON_PASSWORDS: &[&str] = &[
    "password",
    "password1",
    "password12",
    "password123",
    "password1234",
    "passw0rd",
    "p@ssw0rd",
    "p@ssword",
    "12345678",
    "123456789",
    "1234567890",
    "12345678910",
    "87654321",
    "11111111",
    "00000000",
    "88888888",
    "qwertyui",
    "qwerty123",
    "qwertyuiop",
    "1q2w3e4r",
    "1q2w3e4r5t",
    "1qaz2wsx",
    "zaq12wsx",
    "asdfghjk",
    "asdf1234",
    "abcd1234",
    "abc12345",
    "abcdefgh",
    "iloveyou",
    "iloveyou1",
    "sunshine",
    "princess",
    "football",
    "baseball",
    "superman",
    "trustno1",
    "welcome1",
    "welcome123",
    "letmein1",
    "letmein123",
    "admin123",
    "administrator",
    "changeme",
    "changeme123",
    "monkey123",
    "dragon123",
    "master123",
    "starwars",
    "whatever",
    "computer",
    "internet",
    "michelle",
    "jennifer",
    "liverpool",
    "chelsea1",
    "arsenal1",
    "manchester",
    "nairobi1",
    "nairobi123",
    "kenya123",
    "kenya2024",
    "kenya2025",
    "mombasa1",
    "safaricom",
    "mpesa123",
    "baitech1",
    "baitech123",
    "Password1!",
    "Password123!",
    "Qwerty123!",
    "Welcome1!",
    "Admin123!",
    "P@ssw0rd!",
    "P@ssword1",
    "Passw0rd!",
];

/// Why a password was refused, or `None` when it is acceptable.
pub fn password_problem(password: &str, email: &str) -> Option<&'static str> {
    let chars = password.chars().count();
    if chars < 8 {
        return Some("Password must be at least 8 characters");
    }
    if chars > 128 {
        return Some("Password must be at most 128 characters");
    }
    let lowered = password.to_lowercase();
    if !email.is_empty() {
        let email = email.to_lowercase();
        let local = email.split('@').next().unwrap_or("");
        if lowered == email || (local.len() >= 4 && lowered == local) {
            return Some("Password must not be your email address");
        }
    }
    if COMMON_PASSWORDS.iter().any(|p| p.to_lowercase() == lowered) {
        return Some("Password is too common; choose another");
    }
    None
}

/// Normalises an email as `validator.normalizeEmail()` does by default, or
/// `None` when it is not an email address.
pub fn normalize_email(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.len() > 254 || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (local, domain) = raw.rsplit_once('@')?;
    let local = local.to_lowercase();
    let mut domain = domain.to_lowercase();
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    let tld_ok = domain
        .rsplit('.')
        .next()
        .is_some_and(|t| t.len() >= 2 && t.chars().all(|c| c.is_ascii_alphabetic()));
    if local.is_empty() || local.len() > 64 || local.contains('@') || !domain_ok || !tld_ok {
        return None;
    }
    let local = if domain == "gmail.com" || domain == "googlemail.com" {
        domain = "gmail.com".into();
        let base = local.split('+').next().unwrap_or("");
        base.replace('.', "")
    } else if is_outlook(&domain) || is_icloud(&domain) {
        local.split('+').next().unwrap_or("").to_string()
    } else if is_yahoo(&domain) {
        local.split('-').next().unwrap_or("").to_string()
    } else {
        local
    };
    if local.is_empty() {
        return None;
    }
    Some(format!("{local}@{domain}"))
}

fn is_outlook(domain: &str) -> bool {
    ["hotmail.", "live.", "outlook.", "msn."]
        .iter()
        .any(|p| domain.starts_with(p))
}

fn is_yahoo(domain: &str) -> bool {
    domain.starts_with("yahoo.") || domain == "ymail.com" || domain == "rocketmail.com"
}

fn is_icloud(domain: &str) -> bool {
    matches!(domain, "icloud.com" | "me.com" | "mac.com")
}

/// Normalises a phone number to E.164, or `None` when it is not one.
/// Kenyan local forms (`0712345678`, `712345678`, `254712345678`) become `+254712345678`.
pub fn normalize_phone(raw: &str) -> Option<String> {
    let cleaned: String = raw
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
        .collect();
    let (plus, digits) = match cleaned.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, cleaned.as_str()),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let kenyan_mobile = |national: &str| {
        national.len() == 9 && (national.starts_with('7') || national.starts_with('1'))
    };
    if !plus {
        if let Some(national) = digits.strip_prefix('0') {
            return kenyan_mobile(national).then(|| format!("+254{national}"));
        }
        if let Some(national) = digits.strip_prefix("254") {
            return kenyan_mobile(national).then(|| format!("+254{national}"));
        }
        return kenyan_mobile(digits).then(|| format!("+254{digits}"));
    }
    if let Some(national) = digits.strip_prefix("254") {
        return kenyan_mobile(national).then(|| format!("+254{national}"));
    }
    ((8..=15).contains(&digits.len()) && !digits.starts_with('0')).then(|| format!("+{digits}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_normalise_like_validator_js() {
        assert_eq!(
            normalize_email("John.Doe+x@GoogleMail.com").as_deref(),
            Some("johndoe@gmail.com")
        );
        assert_eq!(
            normalize_email("a.b+c@outlook.com").as_deref(),
            Some("a.b@outlook.com")
        );
        assert_eq!(
            normalize_email("a.b-c@yahoo.co.uk").as_deref(),
            Some("a.b@yahoo.co.uk")
        );
        assert_eq!(
            normalize_email("Mary@Example.Info").as_deref(),
            Some("mary@example.info")
        );
        assert_eq!(
            normalize_email("x+y@company.co.ke").as_deref(),
            Some("x+y@company.co.ke")
        );
        for bad in [
            "",
            "no-at",
            "a@b",
            "a@.com",
            "a b@c.com",
            "@c.com",
            "a@c..com",
            "a@c.1",
        ] {
            assert_eq!(normalize_email(bad), None, "{bad}");
        }
    }

    #[test]
    fn kenyan_phones_become_e164() {
        for raw in [
            "0712345678",
            "+254712345678",
            "254712345678",
            "712345678",
            "0712 345 678",
        ] {
            assert_eq!(
                normalize_phone(raw).as_deref(),
                Some("+254712345678"),
                "{raw}"
            );
        }
        assert_eq!(
            normalize_phone("0112345678").as_deref(),
            Some("+254112345678")
        );
        assert_eq!(
            normalize_phone("+14155552671").as_deref(),
            Some("+14155552671")
        );
        for bad in [
            "",
            "0812345678",
            "+2548123",
            "abc",
            "07123456789",
            "+0123456789",
        ] {
            assert_eq!(normalize_phone(bad), None, "{bad}");
        }
    }

    #[test]
    fn password_policy() {
        assert!(password_problem("short", "").is_some());
        assert!(password_problem("password123", "").is_some());
        assert!(password_problem("PASSWORD123", "").is_some());
        assert!(password_problem("jane@example.com", "jane@example.com").is_some());
        assert!(password_problem("janedoe1", "janedoe1@example.com").is_some());
        assert_eq!(
            password_problem("correct horse battery", "jane@example.com"),
            None
        );
        assert!(password_problem(&"x".repeat(129), "").is_some());
    }
}
