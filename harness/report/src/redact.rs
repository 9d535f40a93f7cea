//! Support bundles leave the lab (to a vendor, into a ticket), so secrets are taken out first:
//! bond keys (LTK, IRK, CSRK, link keys), passkeys, tokens, and any long hex string.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

pub const REDACTED: &str = "[REDACTED]";

const SECRET_NAMES: &str =
    "ltk|irk|csrk|bond[_ -]?key|link[_ -]?key|session[_ -]?key|key|secret|passkey|token|password";

/// `ltk=…`, `IRK: …`, `"bond_key": "…"`: the value assigned to a secret's name, whatever it is.
static ASSIGNED_SECRET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r#"(?i)(\b(?:{SECRET_NAMES})s?\b["']?)(\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;}}\]]+)"#
    ))
    .expect("valid regex")
});

/// `passkey 123456`, `key 0x1f…`: a value with a digit right after a secret's name.
static SPACED_SECRET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?i)(\b(?:{SECRET_NAMES})s?\b)(\s+)([^\s,;}}\]]*\d[^\s,;}}\]]*)"
    ))
    .expect("valid regex")
});

/// 16+ hex digits in a row, or 8+ hex bytes joined by `:`, `-` or spaces (longer than a
/// 6-byte Bluetooth address, which stays readable).
static LONG_HEX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:0x)?[0-9a-f]{16,}\b|\b[0-9a-f]{2}(?:[:\- ][0-9a-f]{2}){7,}\b")
        .expect("valid regex")
});

/// `text` with secrets replaced by `[REDACTED]`.
pub fn redact(text: &str) -> Cow<'_, str> {
    let replace_value = |c: &regex::Captures<'_>| {
        let quote = if c[3].starts_with('"') { "\"" } else { "" };
        format!("{}{}{quote}{REDACTED}{quote}", &c[1], &c[2])
    };
    let mut out = Cow::Borrowed(text);
    for pattern in [&*ASSIGNED_SECRET, &*SPACED_SECRET] {
        if let Cow::Owned(s) = pattern.replace_all(&out, replace_value) {
            out = Cow::Owned(s);
        }
    }
    if let Cow::Owned(s) = LONG_HEX.replace_all(&out, |c: &regex::Captures<'_>| {
        // Only decimal digits: a number (a timestamp, a counter), not a secret.
        let hex = c[0]
            .bytes()
            .any(|b| matches!(b.to_ascii_lowercase(), b'a'..=b'f' | b'x'));
        if hex {
            REDACTED.to_string()
        } else {
            c[0].to_string()
        }
    }) {
        out = Cow::Owned(s);
    }
    out
}

/// Redacts every string inside a JSON value, so the result is still valid JSON.
pub fn redact_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => {
            if let Cow::Owned(clean) = redact(s) {
                *s = clean;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_json),
        serde_json::Value::Object(fields) => fields.values_mut().for_each(redact_json),
        serde_json::Value::Null | serde_json::Value::Bool(_) | serde_json::Value::Number(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bond_keys_and_named_secrets_are_redacted() {
        let cases = [
            (
                "<inf> bt_keys: ltk=8f3a91c2d4e5f60718293a4b5c6d7e8f peer=C0:FF:EE:00:11:22",
                "<inf> bt_keys: ltk=[REDACTED] peer=C0:FF:EE:00:11:22",
            ),
            ("IRK: 00112233445566778899AABBCCDDEEFF", "IRK: [REDACTED]"),
            ("passkey 123456 shown", "passkey [REDACTED] shown"),
            (r#"{"bond_key": "abc"}"#, r#"{"bond_key": "[REDACTED]"}"#),
            (
                "stored key 0x1f2e3d4c5b6a79880f1e2d3c4b5a6978 in slot 2",
                "stored key [REDACTED] in slot 2",
            ),
            (
                "dump 8f:3a:91:c2:d4:e5:f6:07:18:29:3a:4b:5c:6d:7e:8f end",
                "dump [REDACTED] end",
            ),
            ("hash deadbeefcafebabe0123456789abcdef", "hash [REDACTED]"),
        ];
        for (input, expected) in cases {
            assert_eq!(redact(input), expected, "{input}");
        }
    }

    #[test]
    fn addresses_numbers_and_words_are_kept() {
        for kept in [
            "<inf> pair: bonded with phone C0:FF:EE:00:11:22",
            "rig_secs 165.49000000000001234",
            "uptime 12345678901234567890 ms",
            "keep=reason monkey=1 keyboard",
            "<inf> pm: reset reason: brownout",
        ] {
            assert_eq!(redact(kept), kept);
        }
    }

    #[test]
    fn json_stays_valid_and_every_string_is_redacted() {
        let mut value = serde_json::json!({
            "event": "console_line",
            "line": "ltk=8f3a91c2d4e5f60718293a4b5c6d7e8f\",}",
            "nested": [{"f": "irk=aa"}],
            "n": 1.5,
        });
        redact_json(&mut value);
        let text = serde_json::to_string(&value).unwrap();
        assert!(!text.contains("8f3a91c2"), "{text}");
        assert!(!text.contains("irk=aa"), "{text}");
        assert_eq!(value["n"], 1.5);
        serde_json::from_str::<serde_json::Value>(&text).unwrap();
    }
}
