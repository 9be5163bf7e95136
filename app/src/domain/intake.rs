//! A lead posted by a supplier (docs/DOMAIN.md §9), the pure part: which field each posted name
//! means (`f_<field id>`, `f_<field id>_<label>`, or the field's key), and whether the values are
//! valid for their kind. Unit-tested; the database part is `db::intake`.

use super::identifiers::FieldKind;

/// Longest value accepted in one field, in characters.
pub const MAX_VALUE_CHARS: usize = 1000;
/// Parameters of the intake request that are not fields.
pub const RESERVED: [&str; 3] = ["cid", "sid", "key"];

/// A campaign field as intake sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDef {
    pub id: i64,
    pub key: String,
    pub label: String,
    pub kind: FieldKind,
    pub dedupe: bool,
}

/// A posted value resolved to its field: raw as sent (trimmed), and its matching key (`None`:
/// nothing identifying, or not valid for the field's kind).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    pub field: usize,
    pub raw: String,
    pub normalized: Option<String>,
}

/// Which of `fields` a posted parameter names: `f_<id>`, `f_<id>_<anything>`, or the key.
pub fn field_named(fields: &[FieldDef], name: &str) -> Option<usize> {
    if let Some(rest) = name.strip_prefix("f_") {
        let digits: &str = rest.split('_').next().unwrap_or_default();
        if let Ok(id) = digits.parse::<i64>()
            && let Some(i) = fields.iter().position(|f| f.id == id)
        {
            return Some(i);
        }
    }
    fields.iter().position(|f| f.key == name)
}

/// Why a posted parameter was refused: the parameter's name, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRefusal {
    pub field: String,
    pub message: String,
}

/// The posted values, each resolved to a field. Empty values are left out; a name that is no
/// field of the campaign, the same field twice, or an over-long value is refused.
pub fn resolve(fields: &[FieldDef], posted: &[(String, String)]) -> Result<Vec<Value>, FieldRefusal> {
    let mut values: Vec<Value> = Vec::new();
    for (name, raw) in posted {
        if RESERVED.contains(&name.as_str()) {
            continue;
        }
        let refuse = |message: &str| FieldRefusal { field: name.clone(), message: message.to_owned() };
        let Some(field) = field_named(fields, name) else {
            return Err(refuse("This campaign has no such field."));
        };
        if values.iter().any(|v| v.field == field) {
            return Err(refuse("The field is given twice."));
        }
        let raw = raw.trim();
        if raw.chars().count() > MAX_VALUE_CHARS {
            return Err(refuse("The value is too long (at most 1000 characters)."));
        }
        if raw.is_empty() {
            continue;
        }
        values.push(Value { field, raw: raw.to_owned(), normalized: fields[field].kind.normalize(raw) });
    }
    Ok(values)
}

/// Whether a value is acceptable for its kind at intake (stricter than matching, which takes
/// whatever identifies): an email has one `@`, something before it, a dotted domain and no
/// spaces; a phone has 7 to 15 digits (the international maximum).
pub fn acceptable(kind: FieldKind, normalized: Option<&str>) -> bool {
    let Some(value) = normalized else { return false };
    match kind {
        FieldKind::Text => true,
        FieldKind::Phone => (7..=15).contains(&value.len()),
        FieldKind::Email => {
            let Some((local, domain)) = value.split_once('@') else { return false };
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !value.chars().any(|c| c.is_whitespace() || c.is_control())
        }
    }
}

/// The reason a lead is refused for its values' shape ("Invalid Email"): the first email or
/// phone value that is not acceptable.
pub fn invalid_reason(fields: &[FieldDef], values: &[Value]) -> Option<String> {
    values
        .iter()
        .find(|v| !acceptable(fields[v.field].kind, v.normalized.as_deref()))
        .map(|v| format!("Invalid {}", fields[v.field].label))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Vec<FieldDef> {
        let f = |id, key: &str, label: &str, kind, dedupe| FieldDef {
            id,
            key: key.into(),
            label: label.into(),
            kind,
            dedupe,
        };
        vec![
            f(11, "email", "Email", FieldKind::Email, true),
            f(12, "phone", "Phone", FieldKind::Phone, false),
            f(13, "first_name", "First name", FieldKind::Text, false),
        ]
    }

    fn posted(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn fields_are_named_by_id_with_or_without_label_or_by_key() {
        let f = fields();
        assert_eq!(field_named(&f, "f_11"), Some(0));
        assert_eq!(field_named(&f, "f_12_phone_number"), Some(1));
        assert_eq!(field_named(&f, "first_name"), Some(2));
        assert_eq!(field_named(&f, "f_99_email"), None);
        assert_eq!(field_named(&f, "f_"), None);
        assert_eq!(field_named(&f, "surname"), None);
    }

    #[test]
    fn values_resolve_and_normalise() {
        let f = fields();
        let v = resolve(
            &f,
            &posted(&[("cid", "1"), ("f_11_email", " Jo@Example.COM "), ("phone", ""), ("f_13", "Jo")]),
        )
        .expect("valid");
        assert_eq!(v.len(), 2, "the empty phone is left out, cid is not a field");
        assert_eq!(v[0].normalized.as_deref(), Some("jo@example.com"));
        assert_eq!(v[0].raw, "Jo@Example.COM");
        assert_eq!(invalid_reason(&f, &v), None);
    }

    #[test]
    fn unknown_repeated_and_long_fields_are_refused() {
        let f = fields();
        let e = resolve(&f, &posted(&[("surname", "Smith")])).expect_err("unknown");
        assert_eq!(e.field, "surname");
        let e = resolve(&f, &posted(&[("email", "a@b.co"), ("f_11", "c@d.co")])).expect_err("twice");
        assert_eq!(e.field, "f_11");
        let long = "x".repeat(MAX_VALUE_CHARS + 1);
        assert!(resolve(&f, &posted(&[("first_name", long.as_str())])).is_err());
    }

    #[test]
    fn emails_and_phones_must_look_like_them() {
        for good in ["jo@example.com", "a.b+c@sub.example.co.uk"] {
            assert!(acceptable(FieldKind::Email, Some(good)), "{good}");
        }
        for bad in ["not an email", "jo@", "@example.com", "jo@example", "jo@.com", "jo@x.com.", "a@b@c.com"]
        {
            assert!(!acceptable(FieldKind::Email, Some(bad)), "{bad}");
        }
        assert!(acceptable(FieldKind::Phone, Some("07700900123")));
        assert!(!acceptable(FieldKind::Phone, Some("123")));
        assert!(!acceptable(FieldKind::Phone, Some("1234567890123456")));
        assert!(!acceptable(FieldKind::Email, None));
        assert!(acceptable(FieldKind::Text, Some("anything")));
    }

    #[test]
    fn the_first_unparseable_email_or_phone_names_the_reason() {
        let f = fields();
        let v =
            resolve(&f, &posted(&[("first_name", "Jo"), ("phone", "call me"), ("email", "not-an-email")]))
                .expect("resolved");
        assert_eq!(invalid_reason(&f, &v).as_deref(), Some("Invalid Phone"));
    }
}
