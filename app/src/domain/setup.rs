//! What owner staff type when setting up an instance (docs/DOMAIN.md §9), checked in one place
//! for the pages and the command line: names, maximum rejection days, field keys and specs, cap
//! limits. Each check returns the text the user reads. Pure and unit-tested.

use serde::{Deserialize, Serialize};

use super::caps::CapPeriod;
use super::identifiers::FieldKind;

/// Longest name of a client, campaign, supplier or field label, in characters.
pub const MAX_NAME_CHARS: usize = 120;
/// Longest maximum rejection time: ten years.
pub const MAX_REJECTION_DAYS: i32 = 3650;
/// Longest field key, in characters.
pub const MAX_KEY_CHARS: usize = 64;
/// Most fields on one campaign.
pub const MAX_FIELDS: usize = 100;
/// Largest field position.
pub const MAX_POSITION: i32 = 10_000;
/// Largest cap limit.
pub const MAX_CAP_LIMIT: i64 = 1_000_000_000_000;

/// A name as stored: surrounding spaces removed, not empty, not over [`MAX_NAME_CHARS`], no
/// control characters. `what` names the thing in the message ("client", "campaign").
pub fn name(text: &str, what: &str) -> Result<String, String> {
    let name = text.trim();
    if name.is_empty() {
        return Err(format!("Enter the {what}'s name."));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!("Use at most {MAX_NAME_CHARS} characters for the {what}'s name."));
    }
    if name.chars().any(|c| c.is_control() || invisible(c)) {
        return Err(format!(
            "The {what}'s name cannot contain tabs, line breaks, or invisible or direction-changing characters."
        ));
    }
    Ok(name.to_owned())
}

/// Characters that change how text around them looks without showing themselves: zero-width
/// characters, direction overrides and isolates, the soft hyphen, the byte-order mark. In a name
/// they make look-alikes of other names.
fn invisible(c: char) -> bool {
    matches!(c, '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// A field's position in its campaign's list: 0 to [`MAX_POSITION`].
pub fn position(text: &str) -> Result<i32, String> {
    match text.trim().parse::<i32>() {
        Ok(p) if (0..=MAX_POSITION).contains(&p) => Ok(p),
        _ => Err(format!("Enter the position as a whole number from 0 to {MAX_POSITION}.")),
    }
}

/// The maximum rejection days typed into a form: empty means none (the campaign does not accept
/// rejection tasks); otherwise a whole number of days from 1 to [`MAX_REJECTION_DAYS`].
pub fn max_rejection_days(text: &str) -> Result<Option<i32>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    match text.parse::<i32>() {
        Ok(days) if (1..=MAX_REJECTION_DAYS).contains(&days) => Ok(Some(days)),
        _ => Err(format!(
            "Enter a whole number of days from 1 to {MAX_REJECTION_DAYS}, or leave it empty so the campaign \
             does not accept rejections."
        )),
    }
}

/// A field key as the intake API and bulk import name the field: a lower-case letter, then
/// lower-case letters, digits and underscores, at most [`MAX_KEY_CHARS`].
pub fn field_key(text: &str) -> Result<String, String> {
    let key = text.trim();
    let mut chars = key.chars();
    let starts_well = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    if !starts_well || !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return Err(
            "Use a key that starts with a lower-case letter and holds only lower-case letters, digits \
                    and underscores, e.g. email or post_code."
                .to_owned(),
        );
    }
    if key.chars().count() > MAX_KEY_CHARS {
        return Err(format!("Use at most {MAX_KEY_CHARS} characters for the key."));
    }
    Ok(key.to_owned())
}

/// A field kind chosen by name (`email`, `phone`, `text`).
pub fn field_kind(text: &str) -> Result<FieldKind, String> {
    FieldKind::parse(text.trim()).ok_or_else(|| "Choose the kind: email, phone or text.".to_owned())
}

/// A field as set up: key, label, kind, and whether its values are deduplicated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldSpec {
    pub key: String,
    pub label: String,
    pub kind: FieldKind,
    pub dedupe: bool,
}

/// A field written `key:label:kind[:dedupe]` on the command line. The label may hold colons:
/// the key is the first part, the kind (and `dedupe`) the last.
pub fn parse_field_spec(text: &str) -> Result<FieldSpec, String> {
    let shape = || format!("write the field as key:label:kind or key:label:kind:dedupe (got {text:?})");
    let (rest, dedupe) = match text.strip_suffix(":dedupe") {
        Some(rest) => (rest, true),
        None => (text, false),
    };
    let (key, rest) = rest.split_once(':').ok_or_else(shape)?;
    let (label, kind) = rest.rsplit_once(':').ok_or_else(shape)?;
    Ok(FieldSpec {
        key: field_key(key)?,
        label: name(label, "field")?,
        kind: field_kind(kind).map_err(|e| format!("{e} ({text:?})"))?,
        dedupe,
    })
}

/// A cap period chosen by name.
pub fn cap_period(text: &str) -> Result<CapPeriod, String> {
    CapPeriod::parse(text.trim()).ok_or_else(|| "Choose the period: day, week, month or total.".to_owned())
}

/// A cap limit: a whole number of leads, 0 (take none) or more.
pub fn cap_limit(text: &str) -> Result<i64, String> {
    match text.trim().parse::<i64>() {
        Ok(n) if (0..=MAX_CAP_LIMIT).contains(&n) => Ok(n),
        _ => Err("Enter the limit as a whole number of leads, 0 or more.".to_owned()),
    }
}

/// How a cap's period reads on a page ("per day", "in total").
pub fn period_words(period: CapPeriod) -> &'static str {
    match period {
        CapPeriod::Day => "per day",
        CapPeriod::Week => "per week",
        CapPeriod::Month => "per month",
        CapPeriod::Total => "in total",
    }
}

/// A maximum rejection time as pages and the change log state it.
pub fn days_words(days: Option<i32>) -> String {
    match days {
        None => "none".to_owned(),
        Some(1) => "1 day".to_owned(),
        Some(d) => format!("{d} days"),
    }
}

/// A change-log action code as the campaign page lists it.
pub fn action_words(action: &str) -> &str {
    match action {
        "campaign.create" => "Created the campaign",
        "campaign.rename" => "Renamed the campaign",
        "campaign.max_rejection_days" => "Changed the maximum rejection days",
        "field.add" => "Added a field",
        "field.update" => "Changed a field",
        "field.remove" => "Removed a field",
        "cap.add" => "Added a cap",
        "cap.update" => "Changed a cap",
        "cap.remove" => "Removed a cap",
        "supplier.campaigns" => "Changed a supplier's campaigns",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(name("  Acme Leads ", "client"), Ok("Acme Leads".to_owned()));
        assert_eq!(name("   ", "client"), Err("Enter the client's name.".to_owned()));
        assert!(name(&"x".repeat(MAX_NAME_CHARS), "client").is_ok());
        assert!(name(&"x".repeat(MAX_NAME_CHARS + 1), "client").unwrap_err().contains("120"));
        assert!(name("Acme\nLeads", "client").unwrap_err().contains("line breaks"));
        for look_alike in ["Zenith\u{202e}Loans", "Zenith\u{200b}Loans", "\u{feff}Zenith", "Ze\u{2066}nith"] {
            assert!(name(look_alike, "client").is_err(), "{look_alike:?}");
        }
        // Characters, not bytes.
        assert!(name(&"é".repeat(MAX_NAME_CHARS), "campaign").is_ok());
    }

    #[test]
    fn max_rejection_days_empty_or_a_day_count() {
        assert_eq!(max_rejection_days(""), Ok(None));
        assert_eq!(max_rejection_days("  "), Ok(None));
        assert_eq!(max_rejection_days(" 7 "), Ok(Some(7)));
        assert_eq!(max_rejection_days("3650"), Ok(Some(3650)));
        for bad in ["0", "-1", "3651", "7.5", "seven", "99999999999"] {
            assert!(max_rejection_days(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn positions_are_bounded() {
        assert_eq!(position(" 3 "), Ok(3));
        assert_eq!(position("10000"), Ok(10_000));
        for bad in ["-1", "10001", "2147483647", "x", ""] {
            assert!(position(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_are_identifiers() {
        assert_eq!(field_key(" post_code2 "), Ok("post_code2".to_owned()));
        for bad in ["", "Email", "2nd", "_x", "e-mail", "e mail", "émail"] {
            assert!(field_key(bad).is_err(), "{bad}");
        }
        assert!(field_key(&"k".repeat(MAX_KEY_CHARS)).is_ok());
        assert!(field_key(&"k".repeat(MAX_KEY_CHARS + 1)).is_err());
    }

    #[test]
    fn field_specs_from_the_command_line() {
        assert_eq!(
            parse_field_spec("email:Email address:email:dedupe"),
            Ok(FieldSpec {
                key: "email".into(),
                label: "Email address".into(),
                kind: FieldKind::Email,
                dedupe: true
            })
        );
        assert_eq!(
            parse_field_spec("ref:Ref: internal:text"),
            Ok(FieldSpec {
                key: "ref".into(),
                label: "Ref: internal".into(),
                kind: FieldKind::Text,
                dedupe: false
            })
        );
        assert!(parse_field_spec("email:Email").is_err());
        assert!(parse_field_spec("email").is_err());
        assert!(parse_field_spec("email:Email:number").unwrap_err().contains("kind"));
        assert!(parse_field_spec("Email:Email:email").unwrap_err().contains("key"));
        assert!(parse_field_spec("email::email").unwrap_err().contains("name"));
    }

    #[test]
    fn cap_limits_and_periods() {
        assert_eq!(cap_limit(" 500 "), Ok(500));
        assert_eq!(cap_limit("0"), Ok(0));
        for bad in ["", "-1", "1.5", "lots", "1000000000001"] {
            assert!(cap_limit(bad).is_err(), "{bad}");
        }
        assert_eq!(cap_period("week"), Ok(CapPeriod::Week));
        assert!(cap_period("year").is_err());
        assert_eq!(period_words(CapPeriod::Total), "in total");
    }

    #[test]
    fn words_for_the_change_log() {
        assert_eq!(days_words(None), "none");
        assert_eq!(days_words(Some(1)), "1 day");
        assert_eq!(days_words(Some(7)), "7 days");
        assert_eq!(action_words("field.add"), "Added a field");
        assert_eq!(action_words("something.new"), "something.new");
    }
}
