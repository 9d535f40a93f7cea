//! A firmware's GATT server as its profile declares it (`[gatt]`): the characteristics a
//! companion app reads, writes and subscribes to, with their values named, and the ATT
//! application errors the firmware refuses a write with. The GATT steps' requests are built from
//! it, so a scenario says `value = "unlock"` and the wire carries the profile's bytes.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::diagnostic::{Problems, SourceFile};

/// The `[gatt]` table of a profile file, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GattFile {
    /// The service the characteristics belong to, unless one says otherwise.
    service: Option<Spanned<String>>,
    /// ATT application errors (0x80–0x9F) by the status they stand for.
    #[serde(default)]
    errors: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    characteristic: BTreeMap<String, CharacteristicFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CharacteristicFile {
    uuid: Spanned<String>,
    service: Option<Spanned<String>>,
    properties: Vec<Property>,
    /// Values by name, as hex bytes.
    #[serde(default)]
    values: BTreeMap<String, Spanned<String>>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Property {
    Read,
    Write,
    Notify,
}

/// A firmware's GATT server: its characteristics by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Gatt {
    pub characteristics: BTreeMap<String, Characteristic>,
    /// ATT application error codes by the status they stand for (`not_owner` → 0x80).
    pub errors: BTreeMap<String, u8>,
}

/// One characteristic of a GATT server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Characteristic {
    /// The profile's name for it (`status`, `control`).
    pub name: String,
    /// 128-bit UUIDs, lower case, as BlueZ spells them.
    pub service: String,
    pub uuid: String,
    pub read: bool,
    pub write: bool,
    pub notify: bool,
    /// Named values.
    #[serde(skip)]
    pub values: BTreeMap<String, Vec<u8>>,
}

impl Characteristic {
    /// The bytes a value name stands for, or the bytes of a hex value (`0x01`, `01ff`).
    pub fn value(&self, written: &str) -> Option<Vec<u8>> {
        self.values
            .get(written)
            .cloned()
            .or_else(|| parse_hex(written))
    }

    /// A value as the profile names it, else as hex.
    pub fn describe(&self, value: &[u8]) -> String {
        self.values
            .iter()
            .find(|(_, bytes)| bytes.as_slice() == value)
            .map_or_else(|| hex(value), |(name, _)| name.clone())
    }

    fn properties(&self) -> String {
        [
            (self.read, "read"),
            (self.write, "write"),
            (self.notify, "notify"),
        ]
        .iter()
        .filter(|(has, _)| *has)
        .map(|(_, name)| *name)
        .collect::<Vec<_>>()
        .join(", ")
    }

    /// Why `op` cannot be done on this characteristic, if it cannot.
    pub fn refuses(&self, op: GattOp) -> Option<String> {
        let allowed = match op {
            GattOp::Read => self.read,
            GattOp::Write => self.write,
            GattOp::Subscribe => self.notify,
        };
        (!allowed).then(|| {
            format!(
                "characteristic `{}` cannot {} (its properties: {})",
                self.name,
                op.verb(),
                self.properties()
            )
        })
    }
}

impl Gatt {
    pub fn by_uuid(&self, uuid: &str) -> Option<&Characteristic> {
        self.characteristics.values().find(|c| c.uuid == uuid)
    }

    /// The status an ATT error code stands for in this firmware, if it names it.
    pub fn error_name(&self, code: u8) -> Option<&str> {
        self.errors
            .iter()
            .find(|(_, c)| **c == code)
            .map(|(name, _)| name.as_str())
    }

    pub(crate) fn load(file: GattFile, source: &SourceFile, problems: &mut Problems) -> Gatt {
        let service = file
            .service
            .and_then(|s| checked_uuid(&s, source, problems));
        let mut errors = BTreeMap::new();
        for (name, code) in file.errors {
            match parse_hex(code.get_ref()).as_deref() {
                Some(&[byte]) if (0x80..=0x9F).contains(&byte) => {
                    errors.insert(name, byte);
                }
                _ => problems.push(source.error(
                    code.span(),
                    format!("`{}` is not an ATT application error code", code.get_ref()),
                    Some("expected one byte from 0x80 to 0x9F, e.g. \"0x80\"".into()),
                )),
            }
        }
        let mut characteristics = BTreeMap::new();
        for (name, c) in file.characteristic {
            let uuid = checked_uuid(&c.uuid, source, problems);
            let own = c.service.and_then(|s| checked_uuid(&s, source, problems));
            let Some(service) = own.or_else(|| service.clone()) else {
                problems.push(source.error(
                    c.uuid.span(),
                    format!("characteristic `{name}` belongs to no service"),
                    Some("set `service = \"…\"` in [gatt] or on the characteristic".into()),
                ));
                continue;
            };
            let mut values = BTreeMap::new();
            for (value, bytes) in c.values {
                match parse_hex(bytes.get_ref()) {
                    Some(parsed) => {
                        values.insert(value, parsed);
                    }
                    None => problems.push(source.error(
                        bytes.span(),
                        format!("`{}` is not hex bytes", bytes.get_ref()),
                        Some("expected e.g. \"01\", \"0x01\" or \"01ff\"".into()),
                    )),
                }
            }
            let Some(uuid) = uuid else { continue };
            let has = |p| c.properties.contains(&p);
            characteristics.insert(
                name.clone(),
                Characteristic {
                    name,
                    service,
                    uuid,
                    read: has(Property::Read),
                    write: has(Property::Write),
                    notify: has(Property::Notify),
                    values,
                },
            );
        }
        Gatt {
            characteristics,
            errors,
        }
    }
}

/// What a GATT step does to a characteristic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GattOp {
    Read,
    Write,
    Subscribe,
}

impl GattOp {
    fn verb(self) -> &'static str {
        match self {
            GattOp::Read => "be read",
            GattOp::Write => "be written",
            GattOp::Subscribe => "notify",
        }
    }
}

/// One GATT exchange a central makes on an encrypted link with a bonded device: it connects,
/// does this, and disconnects.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GattRequest {
    Read(Characteristic),
    /// A write with response.
    Write {
        characteristic: Characteristic,
        value: Vec<u8>,
    },
    /// Enable notifications, optionally write (the app's command flow: subscribe to the status,
    /// write the control), then listen until `until` is notified or `window` has passed.
    Subscribe {
        characteristic: Characteristic,
        write: Option<(Characteristic, Vec<u8>)>,
        until: Option<Vec<u8>>,
        #[serde(with = "secs")]
        window: Duration,
    },
}

impl GattRequest {
    /// The characteristic the request is about (a subscription's, not its write's).
    pub fn characteristic(&self) -> &Characteristic {
        match self {
            GattRequest::Read(c) => c,
            GattRequest::Write { characteristic, .. }
            | GattRequest::Subscribe { characteristic, .. } => characteristic,
        }
    }
}

mod secs {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

/// Bytes as lower-case hex without a prefix: `01ff`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `01`, `0x01`, `01ff` (even length, at least one byte).
fn parse_hex(text: &str) -> Option<Vec<u8>> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    if digits.is_empty() || !digits.len().is_multiple_of(2) {
        return None;
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(digits.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The Bluetooth base UUID a 16-bit UUID expands into.
const BASE_UUID_TAIL: &str = "-0000-1000-8000-00805f9b34fb";

/// A UUID as BlueZ spells it: 128-bit, lower case; a 16-bit one (`180f`) is expanded.
fn normalise_uuid(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let short = lower.strip_prefix("0x").unwrap_or(&lower);
    if short.len() == 4 && short.chars().all(|c| c.is_ascii_hexdigit()) {
        return Some(format!("0000{short}{BASE_UUID_TAIL}"));
    }
    let groups: Vec<&str> = lower.split('-').collect();
    let shape = [8, 4, 4, 4, 12];
    let well_formed = groups.len() == shape.len()
        && groups
            .iter()
            .zip(shape)
            .all(|(g, len)| g.len() == len && g.chars().all(|c| c.is_ascii_hexdigit()));
    well_formed.then_some(lower)
}

fn checked_uuid(
    text: &Spanned<String>,
    source: &SourceFile,
    problems: &mut Problems,
) -> Option<String> {
    let uuid = normalise_uuid(text.get_ref());
    if uuid.is_none() {
        problems.push(source.error(
            text.span(),
            format!("`{}` is not a UUID", text.get_ref()),
            Some("expected 16-bit (\"180f\") or 128-bit (\"8e7f0001-5a4b-4c3d-9e2f-1a2b3c4d5e6f\")".into()),
        ));
    }
    uuid
}

impl fmt::Display for GattOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GattOp::Read => "gatt_read",
            GattOp::Write => "gatt_write",
            GattOp::Subscribe => "subscribe",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_values_parse_with_or_without_a_prefix_and_odd_lengths_do_not() {
        assert_eq!(parse_hex("01"), Some(vec![1]));
        assert_eq!(parse_hex("0x01ff"), Some(vec![1, 0xff]));
        assert_eq!(parse_hex("1"), None);
        assert_eq!(parse_hex(""), None);
        assert_eq!(parse_hex("zz"), None);
        assert_eq!(hex(&[0, 0xab]), "00ab");
    }

    #[test]
    fn uuids_are_spelled_as_bluez_does() {
        assert_eq!(
            normalise_uuid("0x180F").as_deref(),
            Some("0000180f-0000-1000-8000-00805f9b34fb")
        );
        assert_eq!(
            normalise_uuid("8E7F0001-5A4B-4C3D-9E2F-1A2B3C4D5E6F").as_deref(),
            Some("8e7f0001-5a4b-4c3d-9e2f-1a2b3c4d5e6f")
        );
        assert_eq!(normalise_uuid("8e7f0001-5a4b-4c3d-9e2f"), None);
        assert_eq!(normalise_uuid("18g0"), None);
    }
}
