//! The recovery trace: what each device did, per phase, normalised so that it is stable from run
//! to run and from bench to bench. This is what a recovery snapshot pins.
//!
//! Normalisation: timestamps dropped (timing is checked by measurements), addresses redacted,
//! only the fields a profile rule `keep`s, and repeats collapsed.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::LazyLock;

use hil_scenario::Phase;
use regex::Regex;

use crate::event::{Event, EventKind};

/// Longest cycle (in events) that is collapsed when it repeats back to back.
const MAX_CYCLE: usize = 8;
/// Repeat counts up to this are exact; beyond, the count varies between runs and shows as `N+`.
const EXACT_REPEATS: usize = 3;

static ADDRESS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b[0-9a-f]{2}(:[0-9a-f]{2}){5}\b").expect("valid regex"));

/// Renders the recovery trace of one scenario's events.
pub fn recovery_trace(events: &[Event]) -> String {
    let mut lanes: BTreeMap<&str, Vec<(Phase, String)>> = BTreeMap::new();
    let mut phase = Phase::Setup;
    for event in events {
        match &event.kind {
            EventKind::StepStarted { phase: p, .. } => phase = *p,
            EventKind::DeviceEvent {
                device,
                name,
                fields,
                keep,
            } => {
                let mut line = name.clone();
                for key in keep {
                    if let Some(value) = fields.get(key) {
                        write!(line, " {key}={}", ADDRESS.replace_all(value, "<addr>"))
                            .expect("write to String");
                    }
                }
                lanes.entry(device).or_default().push((phase, line));
            }
            _ => {}
        }
    }

    let mut out = String::new();
    for (device, entries) in lanes {
        writeln!(out, "{device}:").expect("write to String");
        for phase in Phase::ALL {
            let lines: Vec<&str> = entries
                .iter()
                .filter(|(p, _)| *p == phase)
                .map(|(_, l)| l.as_str())
                .collect();
            if lines.is_empty() {
                continue;
            }
            writeln!(out, "  {phase}:").expect("write to String");
            render_collapsed(&lines, &mut out);
        }
    }
    out
}

fn render_collapsed(lines: &[&str], out: &mut String) {
    let mut i = 0;
    while i < lines.len() {
        let (period, repeats) = longest_run(&lines[i..]);
        let count = if repeats > EXACT_REPEATS {
            format!("×{}+", EXACT_REPEATS + 1)
        } else {
            format!("×{repeats}")
        };
        match (period, repeats) {
            (_, 1) => writeln!(out, "    {}", lines[i]),
            (1, _) => writeln!(out, "    {} {count}", lines[i]),
            _ => {
                writeln!(out, "    repeated {count}:").expect("write to String");
                lines[i..i + period]
                    .iter()
                    .try_for_each(|l| writeln!(out, "      {l}"))
            }
        }
        .expect("write to String");
        i += period * repeats;
    }
}

/// The shortest cycle at the head of `lines` that repeats back to back, and how often it repeats.
fn longest_run(lines: &[&str]) -> (usize, usize) {
    for period in 1..=MAX_CYCLE.min(lines.len() / 2) {
        let head = &lines[..period];
        let repeats = lines
            .chunks_exact(period)
            .take_while(|c| *c == head)
            .count();
        if repeats >= 2 {
            return (period, repeats);
        }
    }
    (1, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collapse(lines: &[&str]) -> String {
        let mut out = String::new();
        render_collapsed(lines, &mut out);
        out
    }

    #[test]
    fn single_repeats_collapse_with_exact_count() {
        assert_eq!(
            collapse(&["boot", "refused", "refused", "off"]),
            "    boot\n    refused ×2\n    off\n"
        );
    }

    #[test]
    fn cycles_collapse_and_long_runs_show_a_floor() {
        let mut lines = vec!["boot"];
        for _ in 0..7 {
            lines.extend(["reset", "resume", "sag"]);
        }
        lines.push("advertising");
        assert_eq!(
            collapse(&lines),
            "    boot\n    repeated ×4+:\n      reset\n      resume\n      sag\n    advertising\n"
        );
    }

    #[test]
    fn distinct_lines_stay_as_they_are() {
        assert_eq!(
            collapse(&["a", "b", "a", "c"]),
            "    a\n    b\n    a\n    c\n"
        );
    }

    #[test]
    fn addresses_are_redacted_in_kept_fields() {
        let events = vec![Event {
            at: std::time::Duration::ZERO,
            kind: EventKind::DeviceEvent {
                device: "ring".into(),
                name: "bonded".into(),
                fields: [("peer".to_string(), "C4:1A:2B:3C:4D:5E".to_string())].into(),
                keep: vec!["peer".into()],
            },
        }];
        assert_eq!(
            recovery_trace(&events),
            "ring:\n  setup:\n    bonded peer=<addr>\n"
        );
    }
}
