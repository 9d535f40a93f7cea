//! Shell profiles (`fixtures/profiles/*-shell.toml`): the dialect of a central dongle that speaks
//! a Bluetooth shell on its UART: the commands to send and the lines to read back. The driver
//! is written against this, so another shell firmware is another file, not another driver.

use std::collections::BTreeMap;
use std::path::Path;

use regex::Regex;
use serde::Deserialize;
use toml::Spanned;

use crate::diagnostic::{ConfigErrors, Problems, SourceFile};
use crate::profile::list_or_none;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShellFile {
    name: String,
    version: String,
    prompt: String,
    commands: BTreeMap<String, Spanned<String>>,
    lines: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    security_errors: BTreeMap<String, Spanned<String>>,
}

/// A loaded, checked shell profile.
#[derive(Debug)]
pub struct ShellDialect {
    pub name: String,
    pub version: String,
    /// Printed when the shell waits for a command; never followed by a line end.
    pub prompt: String,
    pub commands: ShellCommands,
    pub lines: ShellLines,
    /// The shell's security error numbers, as what they stand for on the air.
    pub security_errors: BTreeMap<i64, LinkCode>,
}

/// Command templates; `{address}`, `{type}` and `{version}` are filled in when sent.
#[derive(Debug)]
pub struct ShellCommands {
    pub init: String,
    pub identity: String,
    pub scan_on: String,
    pub scan_off: String,
    pub connect: String,
    pub secure: String,
    pub disconnect: String,
    pub bonds: String,
    pub forget: String,
    pub adapter_off: String,
    pub adapter_on: String,
    /// Test firmware: the app handshake version the dongle presents.
    pub app_version: Option<String>,
    /// Test firmware: go silent once the next link is encrypted.
    pub silence: Option<String>,
}

/// Patterns for the lines the driver reads (after ANSI codes are stripped).
#[derive(Debug)]
pub struct ShellLines {
    pub initialized: Regex,
    pub identity: Regex,
    pub device: Regex,
    pub connected: Regex,
    pub connect_failed: Regex,
    pub security_changed: Regex,
    pub security_failed: Regex,
    pub disconnected: Regex,
    pub bond: Regex,
    pub refused: Option<Regex>,
    pub not_ready: Regex,
    pub error: Regex,
}

/// What a shell's error number means on the air.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkCode {
    /// An HCI disconnect reason.
    Hci(u8),
    /// An SMP pairing-failed reason.
    Smp(u8),
}

/// Each command: whether it is required, and the placeholders it may use.
const COMMANDS: &[(&str, bool, &[&str])] = &[
    ("init", true, &[]),
    ("identity", true, &[]),
    ("scan_on", true, &[]),
    ("scan_off", true, &[]),
    ("connect", true, &["address", "type"]),
    ("secure", true, &[]),
    ("disconnect", true, &[]),
    ("bonds", true, &[]),
    ("forget", true, &["address", "type"]),
    ("adapter_off", true, &[]),
    ("adapter_on", true, &[]),
    ("app_version", false, &["version"]),
    ("silence", false, &[]),
];

/// Each line pattern: whether it is required, and the named groups the driver reads from it.
const LINES: &[(&str, bool, &[&str])] = &[
    ("initialized", true, &[]),
    ("identity", true, &["address"]),
    ("device", true, &["address", "type", "rssi", "name"]),
    ("connected", true, &["address"]),
    ("connect_failed", true, &["address", "reason"]),
    ("security_changed", true, &["address"]),
    ("security_failed", true, &["address", "reason"]),
    ("disconnected", true, &["address", "reason"]),
    ("bond", true, &["address"]),
    ("refused", false, &["address", "status"]),
    ("not_ready", true, &[]),
    ("error", true, &[]),
];

impl ShellDialect {
    pub fn load(path: &Path) -> Result<ShellDialect, ConfigErrors> {
        let source = SourceFile::read(path)?;
        let file: ShellFile = source.parse()?;
        let mut problems = Problems::default();
        let mut commands = check_commands(&source, &file.commands, &mut problems);
        let mut lines = check_lines(&source, &file.lines, &mut problems);
        let security_errors = check_security_errors(&source, &file.security_errors, &mut problems);
        problems.finish(())?;
        let mut command = |name: &str| commands.remove(name).unwrap_or_default();
        let commands = ShellCommands {
            init: command("init"),
            identity: command("identity"),
            scan_on: command("scan_on"),
            scan_off: command("scan_off"),
            connect: command("connect"),
            secure: command("secure"),
            disconnect: command("disconnect"),
            bonds: command("bonds"),
            forget: command("forget"),
            adapter_off: command("adapter_off"),
            adapter_on: command("adapter_on"),
            app_version: commands.remove("app_version"),
            silence: commands.remove("silence"),
        };
        let mut line = |name: &str| lines.remove(name).expect("checked: required lines exist");
        let lines = ShellLines {
            initialized: line("initialized"),
            identity: line("identity"),
            device: line("device"),
            connected: line("connected"),
            connect_failed: line("connect_failed"),
            security_changed: line("security_changed"),
            security_failed: line("security_failed"),
            disconnected: line("disconnected"),
            bond: line("bond"),
            not_ready: line("not_ready"),
            error: line("error"),
            refused: lines.remove("refused"),
        };
        Ok(ShellDialect {
            name: file.name,
            version: file.version,
            prompt: file.prompt,
            commands,
            lines,
            security_errors,
        })
    }
}

/// Placeholders (`{name}`) in a command template.
fn placeholders(template: &str) -> Vec<&str> {
    template
        .split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
        .collect()
}

fn check_commands(
    source: &SourceFile,
    given: &BTreeMap<String, Spanned<String>>,
    problems: &mut Problems,
) -> BTreeMap<String, String> {
    let known: Vec<&str> = COMMANDS.iter().map(|(name, ..)| *name).collect();
    let mut out = BTreeMap::new();
    for (name, template) in given {
        let Some((_, _, allowed)) = COMMANDS.iter().find(|(n, ..)| n == name) else {
            problems.push(source.error(
                template.span(),
                format!("unknown command `{name}`"),
                Some(format!(
                    "commands a shell profile describes: {}",
                    known.join(", ")
                )),
            ));
            continue;
        };
        for placeholder in placeholders(template.get_ref()) {
            if !allowed.contains(&placeholder) {
                problems.push(source.error(
                    template.span(),
                    format!("command `{name}` cannot use `{{{placeholder}}}`"),
                    Some(format!("it may use: {}", braced(allowed))),
                ));
            }
        }
        out.insert(name.clone(), template.get_ref().clone());
    }
    for (name, required, _) in COMMANDS {
        if *required && !given.contains_key(*name) {
            problems.push(source.error(0..0, format!("no `{name}` command in [commands]"), None));
        }
    }
    out
}

fn braced(names: &[&str]) -> String {
    let braced: Vec<String> = names.iter().map(|n| format!("{{{n}}}")).collect();
    let braced: Vec<&str> = braced.iter().map(String::as_str).collect();
    list_or_none(&braced)
}

fn check_lines(
    source: &SourceFile,
    given: &BTreeMap<String, Spanned<String>>,
    problems: &mut Problems,
) -> BTreeMap<String, Regex> {
    let known: Vec<&str> = LINES.iter().map(|(name, ..)| *name).collect();
    let mut out = BTreeMap::new();
    for (name, pattern) in given {
        let Some((_, _, groups)) = LINES.iter().find(|(n, ..)| n == name) else {
            problems.push(source.error(
                pattern.span(),
                format!("unknown line `{name}`"),
                Some(format!(
                    "lines a shell profile describes: {}",
                    known.join(", ")
                )),
            ));
            continue;
        };
        let regex = match Regex::new(pattern.get_ref()) {
            Ok(regex) => regex,
            Err(e) => {
                problems.push(source.error(
                    pattern.span(),
                    "invalid regular expression",
                    Some(e.to_string()),
                ));
                continue;
            }
        };
        let captured: Vec<&str> = regex.capture_names().flatten().collect();
        let missing: Vec<&str> = groups
            .iter()
            .copied()
            .filter(|g| !captured.contains(g))
            .collect();
        if !missing.is_empty() {
            problems.push(source.error(
                pattern.span(),
                format!(
                    "line `{name}` must capture {}",
                    missing
                        .iter()
                        .map(|g| format!("(?P<{g}>…)"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Some(format!(
                    "named groups in the pattern: {}",
                    list_or_none(&captured)
                )),
            ));
            continue;
        }
        out.insert(name.clone(), regex);
    }
    for (name, required, _) in LINES {
        if *required && !given.contains_key(*name) {
            problems.push(source.error(0..0, format!("no `{name}` pattern in [lines]"), None));
        }
    }
    out
}

fn check_security_errors(
    source: &SourceFile,
    given: &BTreeMap<String, Spanned<String>>,
    problems: &mut Problems,
) -> BTreeMap<i64, LinkCode> {
    let mut out = BTreeMap::new();
    for (number, meaning) in given {
        let parsed = number
            .parse::<i64>()
            .ok()
            .zip(parse_code(meaning.get_ref()));
        match parsed {
            Some((number, code)) => {
                out.insert(number, code);
            }
            None => problems.push(source.error(
                meaning.span(),
                format!(
                    "cannot read security error `{number} = {:?}`",
                    meaning.get_ref()
                ),
                Some("expected a number = \"hci 0x06\" or \"smp 0x05\"".into()),
            )),
        }
    }
    out
}

fn parse_code(text: &str) -> Option<LinkCode> {
    let (kind, code) = text.split_once(' ')?;
    let code = u8::from_str_radix(code.trim().strip_prefix("0x")?, 16).ok()?;
    match kind {
        "hci" => Some(LinkCode::Hci(code)),
        "smp" => Some(LinkCode::Smp(code)),
        _ => None,
    }
}

/// Fills a command template's placeholders.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    values
        .iter()
        .fold(template.to_string(), |out, (name, value)| {
            out.replace(&format!("{{{name}}}"), value)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profiles() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/profiles")
    }

    #[test]
    fn the_zephyr_shell_profile_loads() {
        let dialect = ShellDialect::load(&profiles().join("zephyr-bt-shell.toml")).unwrap();
        assert_eq!(dialect.prompt, "uart:~$ ");
        assert_eq!(
            fill(
                &dialect.commands.connect,
                &[("address", "C0:11:22:33:44:55"), ("type", "random")]
            ),
            "bt connect C0:11:22:33:44:55 random"
        );
        let line = "[DEVICE]: C0:11:22:33:44:55 (random), AD evt type 0, RSSI -59 ring C:1 S:1 D:0";
        let caps = dialect.lines.device.captures(line).unwrap();
        assert_eq!((&caps["rssi"], &caps["name"]), ("-59", "ring"));
        let failed =
            "Security failed: C0:11:22:33:44:55 (random) level 1 reason: PIN or key missing (2)";
        assert_eq!(
            &dialect.lines.security_failed.captures(failed).unwrap()["reason"],
            "2"
        );
        assert_eq!(dialect.security_errors[&2], LinkCode::Hci(0x06));
    }

    #[test]
    fn a_broken_profile_names_each_problem_with_its_place() {
        let dir = std::env::temp_dir().join(format!("hil-shell-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("broken.toml");
        let text = std::fs::read_to_string(profiles().join("zephyr-bt-shell.toml"))
            .unwrap()
            .replace("bt connect {address} {type}", "bt connect {adress}")
            .replace("(?P<rssi>-?\\d+)", "(?P<strength>-?\\d+)")
            .replace("2 = \"hci 0x06\"", "2 = \"hci six\"");
        std::fs::write(&path, text).unwrap();
        let all: Vec<String> = ShellDialect::load(&path)
            .unwrap_err()
            .errors
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(
            all.iter().any(
                |e| e.contains("broken.toml:") && e.contains("`connect` cannot use `{adress}`")
            ),
            "{all:?}"
        );
        assert!(
            all.iter()
                .any(|e| e.contains("line `device` must capture (?P<rssi>…)")),
            "{all:?}"
        );
        assert!(
            all.iter().any(|e| e.contains("security error `2")),
            "{all:?}"
        );
    }
}
