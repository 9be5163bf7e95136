//! Normalised identifier values (docs/DOMAIN.md §3): emails trimmed and lower-cased, UK phones reduced to
//! digits with `+44`/`44` written as `0`, other fields trimmed. Parse, don't validate.

use serde::{Deserialize, Serialize};

/// The kind of a campaign field, which decides how its values are normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Email,
    Phone,
    Text,
}

impl FieldKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldKind::Email => "email",
            FieldKind::Phone => "phone",
            FieldKind::Text => "text",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "email" => Some(FieldKind::Email),
            "phone" => Some(FieldKind::Phone),
            "text" => Some(FieldKind::Text),
            _ => None,
        }
    }

    /// The matching key of a raw value, or `None` when nothing identifying is left.
    pub fn normalize(self, raw: &str) -> Option<String> {
        match self {
            FieldKind::Email => Email::parse(raw).map(Email::into_inner),
            FieldKind::Phone => Phone::parse(raw).map(Phone::into_inner),
            FieldKind::Text => {
                let t = raw.trim();
                (!t.is_empty()).then(|| t.to_owned())
            }
        }
    }
}

/// An email address as matched: trimmed and lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// `None` when empty after trimming.
    pub fn parse(raw: &str) -> Option<Self> {
        let t = raw.trim();
        (!t.is_empty()).then(|| Self(t.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A phone number as matched: digits only, a UK `+44`/`44` prefix written as `0`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

impl Phone {
    /// `None` when the value holds no digits.
    pub fn parse(raw: &str) -> Option<Self> {
        let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
        if digits.is_empty() {
            return None;
        }
        // `+44…` and `0044…` are international; a bare `44…` only when it is long enough to
        // carry a country code (12+ digits), so a national number is never rewritten.
        let (digits, international) = match digits.strip_prefix("00") {
            Some(rest) => (rest.to_owned(), true),
            None => (digits.clone(), raw.trim_start().starts_with('+')),
        };
        let digits = match digits.strip_prefix("44") {
            // `+44 (0)7700…` carries the trunk zero as well; keep a single one.
            Some(rest) if international || digits.len() >= 12 => {
                format!("0{}", rest.strip_prefix('0').unwrap_or(rest))
            }
            _ => digits,
        };
        Some(Self(digits))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(Email::parse("  Jane.Smith@Example.CO.UK ").unwrap().as_str(), "jane.smith@example.co.uk");
        assert_eq!(Email::parse("   "), None);
    }

    #[test]
    fn uk_phones_normalise_to_national_digits() {
        for raw in [
            "+44 7700 900123",
            "07700 900123",
            "07700900123",
            "447700900123",
            "+44 (0)7700 900123",
            "0044 7700 900123",
            " (07700) 900-123 ",
        ] {
            let p = Phone::parse(raw).map(Phone::into_inner);
            assert_eq!(p.as_deref(), Some("07700900123"), "{raw}");
        }
        assert_eq!(Phone::parse("n/a"), None);
    }

    #[test]
    fn short_numbers_starting_44_are_not_rewritten() {
        // A 10-digit number that happens to start with 44 has no country prefix.
        assert_eq!(Phone::parse("4412345678").unwrap().as_str(), "4412345678");
    }

    #[test]
    fn field_kinds_normalise() {
        assert_eq!(FieldKind::Text.normalize("  SW1A 1AA "), Some("SW1A 1AA".into()));
        assert_eq!(FieldKind::Text.normalize("  "), None);
        assert_eq!(FieldKind::Email.normalize("A@B.C"), Some("a@b.c".into()));
        assert_eq!(FieldKind::Phone.normalize("+447700900123"), Some("07700900123".into()));
        for k in [FieldKind::Email, FieldKind::Phone, FieldKind::Text] {
            assert_eq!(FieldKind::parse(k.as_str()), Some(k));
        }
    }
}
