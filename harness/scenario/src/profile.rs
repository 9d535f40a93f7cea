//! Firmware profiles (`fixtures/profiles/*.toml`): what a firmware build logs and how to read it,
//! which transports it speaks, and the thresholds it is built with.
//!
//! A real board's UART log and a virtual device's console go through the same rules.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use regex::{Regex, RegexSet};
use serde::Deserialize;
use toml::Spanned;

use crate::diagnostic::{ConfigError, ConfigErrors, Problems, SourceFile};
use crate::duration::HumanDuration;
use crate::gatt::{Gatt, GattFile};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    name: String,
    version: String,
    transports: Vec<Transport>,
    /// Log rules file, relative to this profile.
    rules: Spanned<String>,
    /// The build artefact a debug probe writes (ELF, Intel HEX or raw bin), relative to this
    /// profile: the virtual rig flashes the profile, a bench flashes this file.
    image: Option<Spanned<String>>,
    /// The build's signed MCUboot image (`imgtool sign`), relative to this profile: what a bench
    /// uploads over MCUmgr. Without it the harness builds a stand-in image from the profile.
    signed_image: Option<String>,
    #[serde(default)]
    behaviour: Behaviour,
    /// The firmware's GATT server, as a companion app sees it.
    #[serde(default)]
    gatt: GattFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    rule: Vec<RuleSpec>,
    /// Extra secrets this firmware prints: the first capture group of each match is replaced.
    #[serde(default)]
    redact: Vec<RedactSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RedactSpec {
    #[serde(rename = "match")]
    pattern: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    /// Regular expression; named groups become event fields.
    #[serde(rename = "match")]
    pattern: Spanned<String>,
    event: String,
    /// Fields that belong in the recovery snapshot (the rest stay in the event stream only).
    #[serde(default)]
    keep: Vec<Spanned<String>>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    Ble,
    Nfc,
    Zwave,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Ble => "ble",
            Transport::Nfc => "nfc",
            Transport::Zwave => "zwave",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DfuBanks {
    #[default]
    Dual,
    Single,
}

/// What a ring presents over NFC.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NfcCredential {
    /// A fixed UID: a recording of it works forever.
    StaticUid,
    /// A counter with a message authentication code: each tap is new.
    #[default]
    Rolling,
}

/// How the firmware behaves around power and pairing. On hardware these document the build; the
/// virtual rig runs a firmware model configured by them.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Behaviour {
    /// Refuse to start pairing below this state of charge (percent).
    pub pairing_min_soc: Option<u8>,
    /// After a brown-out reset, refuse pairing below this state of charge until charged.
    pub brownout_min_soc: Option<u8>,
    /// While refusing for low battery, enter system off after this long (protects the cell).
    pub low_battery_off_after: Option<HumanDuration>,
    /// Battery health check at boot: above this internal resistance (from a load pulse) the
    /// firmware reports a battery fault and refuses pairing instead of browning out.
    pub max_cell_ohms: Option<f64>,
    /// Restart a pairing that a reset interrupted, straight after boot.
    pub resume_pairing_after_reset: bool,
    /// Bond table size (Zephyr's CONFIG_BT_MAX_PAIRED).
    pub bond_slots: usize,
    /// When the bond table is full, overwrite the oldest bond instead of refusing.
    pub bond_overwrite_oldest: bool,
    /// After this many failed security attempts in a row, refuse everyone (SMP 0x09) for
    /// `lockout_window`. Kept in retained RAM.
    pub lockout_after_failures: Option<u32>,
    pub lockout_window: Option<HumanDuration>,
    /// The lockout window never ends (a real-world bug).
    pub lockout_never_expires: bool,
    /// The first central to pair owns the device: other phones are refused, and while a hub owns
    /// it phones may pair but not operate it. A factory reset clears ownership.
    pub ownership: bool,
    /// The app handshake version this firmware speaks.
    pub handshake_version: Option<u32>,
    /// Refuse an older app's handshake with an explicit status (false: it fails later, silently).
    pub check_app_version: bool,
    /// The firmware starts links itself: a ring presents its credential to a lock (BLE proximity
    /// or an NFC tap), and keeps retrying a bonded lock.
    pub acts_as_central: bool,
    pub nfc_credential: NfcCredential,
    /// A debug build that prints bond keys to its log (they must never reach a report).
    pub logs_keys: bool,
    /// A hub relays an accepted NFC credential to the lock it has included (over Z-Wave).
    pub bridges: bool,
    /// A lock refuses a credential it has seen before (a replayed counter).
    pub nfc_replay_protection: bool,
    /// Size of this firmware image, for update transfers.
    pub image_kb: u32,
    /// Flash layout for updates: dual bank keeps the old image until the new one is confirmed;
    /// single bank erases the application first.
    pub dfu_banks: DfuBanks,
    /// A new image confirms itself after its boot self-test (MCUboot); unconfirmed, it is reverted
    /// at the next reset.
    pub confirms_image: bool,
    /// Single bank: after an interrupted update the bootloader waits for the rest (false: brick).
    pub bootloader_waits: bool,
    /// A radio bug in this build drops established links every so often.
    pub drops_links_every: Option<HumanDuration>,
    /// A factory reset erases the bonds (false is a real-world bug).
    pub reset_clears_bonds: bool,
    /// Advertise again after a link is lost to a supervision timeout (false is a real-world bug).
    pub readvertise_after_timeout: bool,
    /// A factory reset also clears ownership (false is a real-world bug).
    pub reset_clears_ownership: bool,
    /// After a reset during an actuation, re-sense the bolt instead of reporting it unknown.
    pub resense_bolt_after_reset: bool,
    /// User codes can be written back from an export.
    pub codes_restorable: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            pairing_min_soc: None,
            brownout_min_soc: None,
            low_battery_off_after: None,
            max_cell_ohms: None,
            resume_pairing_after_reset: false,
            // Zephyr's default.
            bond_slots: 1,
            bond_overwrite_oldest: false,
            lockout_after_failures: None,
            lockout_window: None,
            lockout_never_expires: false,
            ownership: false,
            handshake_version: None,
            acts_as_central: false,
            nfc_credential: NfcCredential::Rolling,
            nfc_replay_protection: true,
            bridges: false,
            logs_keys: false,
            check_app_version: true,
            image_kb: 256,
            dfu_banks: DfuBanks::Dual,
            confirms_image: true,
            bootloader_waits: true,
            drops_links_every: None,
            reset_clears_bonds: true,
            readvertise_after_timeout: true,
            reset_clears_ownership: true,
            resense_bolt_after_reset: true,
            codes_restorable: true,
        }
    }
}

/// A loaded, checked firmware profile.
#[derive(Debug)]
pub struct Profile {
    pub name: String,
    pub version: String,
    pub transports: Vec<Transport>,
    pub behaviour: Behaviour,
    /// The characteristics a companion app reads, writes and subscribes to.
    pub gatt: Gatt,
    /// The build artefact a real probe flashes, if the profile names one.
    pub image: Option<PathBuf>,
    /// The build's signed MCUboot image, if the profile names one.
    pub signed_image: Option<PathBuf>,
    pub rules: Arc<[Rule]>,
    /// All the rules' patterns at once: finds the first rule a line matches in one pass, where
    /// trying each rule in turn costs a scan per rule on every line that matches none.
    rule_set: Arc<RegexSet>,
    /// Secrets this firmware prints, on top of the keys every profile redacts.
    pub redactions: Arc<[Regex]>,
}

/// Compiled rules files by path: many profiles (every image a scenario names) share one file, and
/// compiling its regexes once per process keeps planning fast and small.
type CompiledRules = (Arc<[Rule]>, Arc<RegexSet>, Arc<[Regex]>);
static RULES_CACHE: LazyLock<Mutex<HashMap<PathBuf, CompiledRules>>> =
    LazyLock::new(Default::default);

/// Bond keys (LTK, IRK, CSRK), passkeys and NFC keys as firmware logs print them: label kept,
/// value replaced.
static SECRETS: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
    // No leading word boundary: `peerLTK=…` is a key too, and redacting a harmless `quirk 0x1f`
    // is the safe mistake.
    Regex::new(r"(?i)(ltk|irk|csrk|passkey|nfc key|link key)(\s*[:=]?\s*)(?:0x)?[0-9a-f]{4,}")
        .expect("valid regex")
});

#[derive(Debug)]
pub struct Rule {
    pub regex: Regex,
    pub event: String,
    pub keep: Vec<String>,
}

/// A console line recognised by a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recognised {
    pub event: String,
    pub fields: BTreeMap<String, String>,
    /// Fields that go into the recovery snapshot.
    pub keep: Vec<String>,
}

impl Profile {
    pub fn load(path: &Path) -> Result<Profile, ConfigErrors> {
        let source = SourceFile::read(path)?;
        let mut file: ProfileFile = source.parse()?;
        let mut problems = Problems::default();
        let gatt = Gatt::load(std::mem::take(&mut file.gatt), &source, &mut problems);
        problems.finish(())?;
        let rules_path = path
            .parent()
            .unwrap_or(Path::new("."))
            .join(file.rules.get_ref());
        let key = std::fs::canonicalize(&rules_path).unwrap_or_else(|_| rules_path.clone());
        let cached = RULES_CACHE
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .cloned();
        let (rules, rule_set, redactions) = match cached {
            Some(compiled) => compiled,
            None => {
                let compiled = Self::compile(&source, &file, &rules_path)?;
                RULES_CACHE
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(key, compiled.clone());
                compiled
            }
        };
        let base = path.parent().unwrap_or(Path::new("."));
        Ok(Profile {
            name: file.name,
            version: file.version,
            transports: file.transports,
            signed_image: file.signed_image.map(|image| base.join(image)),
            behaviour: file.behaviour,
            gatt,
            image: file.image.map(|image| base.join(image.into_inner())),
            rules,
            rule_set,
            redactions,
        })
    }

    fn compile(
        source: &SourceFile,
        file: &ProfileFile,
        rules_path: &Path,
    ) -> Result<CompiledRules, ConfigErrors> {
        let rules_source = SourceFile::read(rules_path).map_err(|e| match e {
            ConfigError::Io { source: io, .. } => source.error(
                file.rules.span(),
                format!("cannot read rules file {}: {io}", rules_path.display()),
                Some("the path is relative to the profile file".into()),
            ),
            other => other,
        })?;
        let (rules, redactions) = compile_rules(&rules_source)?;
        let rule_set = RegexSet::new(rules.iter().map(|r| r.regex.as_str())).map_err(|e| {
            ConfigErrors::from(rules_source.error(
                0..0,
                "the rules do not compile together",
                Some(e.to_string()),
            ))
        })?;
        Ok((rules.into(), Arc::new(rule_set), redactions.into()))
    }

    /// Every event name the rules can produce.
    pub fn events(&self) -> impl Iterator<Item = &str> {
        let mut seen: Vec<&str> = self.rules.iter().map(|r| r.event.as_str()).collect();
        seen.sort_unstable();
        seen.dedup();
        seen.into_iter()
    }

    /// The line with every secret replaced by `<redacted>`. Applied to console lines before
    /// anything else sees them, so no report, bundle or terminal can leak a key.
    pub fn redact<'a>(&self, line: &'a str) -> std::borrow::Cow<'a, str> {
        let mut out = SECRETS.replace_all(line, "${1}${2}<redacted>");
        for pattern in self.redactions.iter() {
            if let Some(secret) = pattern.captures(&out).and_then(|c| c.get(1)) {
                let range = secret.range();
                let mut owned = out.into_owned();
                owned.replace_range(range, "<redacted>");
                out = std::borrow::Cow::Owned(owned);
            }
        }
        out
    }

    /// The first rule that matches the line, as an event.
    pub fn recognise(&self, line: &str) -> Option<Recognised> {
        let first = self.rule_set.matches(line).into_iter().next()?;
        let rule = &self.rules[first];
        let caps = rule.regex.captures(line)?;
        let fields = rule
            .regex
            .capture_names()
            .flatten()
            .filter_map(|name| Some((name.to_string(), caps.name(name)?.as_str().to_string())))
            .collect();
        Some(Recognised {
            event: rule.event.clone(),
            fields,
            keep: rule.keep.clone(),
        })
    }
}

fn compile_rules(source: &SourceFile) -> Result<(Vec<Rule>, Vec<Regex>), ConfigErrors> {
    let file: RulesFile = source.parse()?;
    let mut problems = Problems::default();
    let mut rules = Vec::new();
    for spec in file.rule {
        let regex = match Regex::new(spec.pattern.get_ref()) {
            Ok(regex) => regex,
            Err(e) => {
                problems.push(source.error(
                    spec.pattern.span(),
                    "invalid regular expression",
                    Some(e.to_string()),
                ));
                continue;
            }
        };
        let groups: Vec<&str> = regex.capture_names().flatten().collect();
        for field in &spec.keep {
            if !groups.contains(&field.get_ref().as_str()) {
                problems.push(source.error(
                    field.span(),
                    format!(
                        "`keep` names `{}`, which the pattern does not capture",
                        field.get_ref()
                    ),
                    Some(format!(
                        "named groups in the pattern: {}",
                        list_or_none(&groups)
                    )),
                ));
            }
        }
        rules.push(Rule {
            keep: spec.keep.into_iter().map(Spanned::into_inner).collect(),
            regex,
            event: spec.event,
        });
    }
    let mut redactions = Vec::new();
    for spec in file.redact {
        match Regex::new(spec.pattern.get_ref()) {
            Ok(regex) if regex.captures_len() > 1 => redactions.push(regex),
            Ok(_) => problems.push(source.error(
                spec.pattern.span(),
                "a redaction needs a capture group around the secret",
                Some("e.g. 'token=(\\w+)'".into()),
            )),
            Err(e) => problems.push(source.error(
                spec.pattern.span(),
                "invalid regular expression",
                Some(e.to_string()),
            )),
        }
    }
    problems.finish((rules, redactions))
}

pub(crate) fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(redactions: Vec<Regex>) -> Profile {
        Profile {
            name: "fw".into(),
            version: "1".into(),
            transports: vec![],
            behaviour: Behaviour::default(),
            gatt: Gatt::default(),
            image: None,
            signed_image: None,
            rules: Arc::new([]),
            rule_set: Arc::new(RegexSet::empty()),
            redactions: redactions.into(),
        }
    }

    #[test]
    fn keys_and_passkeys_are_redacted_and_labels_kept() {
        let p = profile(vec![Regex::new(r"session token (\w+)").unwrap()]);
        assert_eq!(
            p.redact(
                "[00:01] <dbg> keys: LTK 0x00112233445566778899aabbccddeeff for C0:11:22:33:44:55"
            ),
            "[00:01] <dbg> keys: LTK <redacted> for C0:11:22:33:44:55"
        );
        assert_eq!(p.redact("pair: passkey 123456"), "pair: passkey <redacted>");
        assert_eq!(p.redact("irk=ab12cd34ef"), "irk=<redacted>");
        assert_eq!(
            p.redact("app: session token s3cr3t ok"),
            "app: session token <redacted> ok"
        );
        assert_eq!(
            p.redact("bt: advertising as ring"),
            "bt: advertising as ring"
        );
    }
}
