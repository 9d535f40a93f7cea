//! The timeline of one scenario as inline SVG: time runs left to right on the rig's clock, one
//! lane per device, a lane for the steps, one for the instruments and one for measurements.
//! Every mark carries its text in a `<title>` (a tooltip) and links to its row in the event table.

use std::fmt::Write;

use hil_runner::{Event, EventKind, ScenarioResult};
use hil_scenario::Unit;
use maud::{Markup, html};

const WIDTH: f64 = 1000.0;
const GUTTER: f64 = 110.0;
const RIGHT: f64 = 12.0;
const AXIS: f64 = 22.0;
const LANE: f64 = 26.0;

pub const STEPS_LANE: &str = "steps";
pub const INSTRUMENTS_LANE: &str = "instruments";
pub const MEASUREMENTS_LANE: &str = "measurements";

/// One thing on the timeline and in the event table.
pub struct Mark {
    /// Index in the scenario's events: the row this mark links to.
    pub seq: usize,
    pub at: f64,
    pub lane: String,
    pub kind: &'static str,
    pub text: String,
    /// Where a span (a step, a timed measurement) started; marks without one are points.
    pub from: Option<f64>,
    pub class: String,
}

/// Lanes top to bottom: steps, the rig's devices, any other device seen (a phone), the
/// instruments, the measurements.
pub fn lanes(result: &ScenarioResult, marks: &[Mark]) -> Vec<String> {
    let mut lanes = vec![STEPS_LANE.to_string()];
    lanes.extend(result.firmware.keys().cloned());
    for mark in marks {
        let special =
            [STEPS_LANE, INSTRUMENTS_LANE, MEASUREMENTS_LANE].contains(&mark.lane.as_str());
        if !special && !lanes.contains(&mark.lane) {
            lanes.push(mark.lane.clone());
        }
    }
    lanes.push(INSTRUMENTS_LANE.into());
    lanes.push(MEASUREMENTS_LANE.into());
    lanes
}

/// What each event puts on the timeline.
pub fn marks(events: &[Event]) -> Vec<Mark> {
    let mut marks: Vec<Mark> = Vec::new();
    for (seq, event) in events.iter().enumerate() {
        let at = event.at.as_secs_f64();
        let mark = |lane: &str, kind, text: String, class: String| Mark {
            seq,
            at,
            lane: lane.to_string(),
            kind,
            text,
            from: None,
            class,
        };
        match &event.kind {
            EventKind::StepStarted {
                phase,
                index,
                action,
                location,
            } => marks.push(Mark {
                from: Some(at),
                ..mark(
                    STEPS_LANE,
                    "step",
                    format!("{phase} {index}: {action} ({location})"),
                    format!("step phase-{phase}"),
                )
            }),
            EventKind::StepFinished {
                outcome, message, ..
            } => {
                // The step's span ends here and takes its outcome.
                if let Some(step) = marks.iter_mut().rev().find(|m| m.kind == "step") {
                    step.at = at;
                    let _ = write!(step.text, " → {outcome}");
                    if let Some(message) = message {
                        let _ = write!(step.text, ": {message}");
                    }
                    let _ = write!(step.class, " outcome-{}", outcome.label().to_lowercase());
                }
            }
            EventKind::InstrumentAction {
                instrument,
                action,
                readback,
            } => marks.push(mark(
                INSTRUMENTS_LANE,
                "instrument",
                format!("{instrument}: {action} → reads {readback}"),
                "instrument".into(),
            )),
            EventKind::ConsoleLine { device, line } => {
                marks.push(mark(device, "console", line.clone(), "console".into()));
            }
            EventKind::DeviceEvent {
                device,
                name,
                fields,
                ..
            } => {
                let fields: String = fields.iter().map(|(k, v)| format!(" {k}={v}")).collect();
                marks.push(mark(
                    device,
                    "event",
                    format!("{name}{fields}"),
                    format!("event event-{}", css_word(name)),
                ));
            }
            EventKind::Measurement(m) => marks.push(Mark {
                from: (m.unit == Unit::Seconds).then(|| (at - m.value).max(0.0)),
                ..mark(
                    MEASUREMENTS_LANE,
                    "measurement",
                    m.to_string(),
                    format!("measurement verdict-{:?}", m.verdict).to_lowercase(),
                )
            }),
            // Hundreds per upload: the step's span already shows how long it took.
            EventKind::Progress { .. }
            | EventKind::RunStarted { .. }
            | EventKind::ScenarioStarted { .. }
            | EventKind::ScenarioFinished(_)
            | EventKind::RunFinished(_) => {}
        }
    }
    marks
}

pub fn render(scenario_index: usize, result: &ScenarioResult, marks: &[Mark]) -> Markup {
    let lanes = lanes(result, marks);
    let end = marks
        .iter()
        .map(|m| m.at)
        .fold(result.rig_secs, f64::max)
        .max(1.0);
    let x = |t: f64| GUTTER + t / end * (WIDTH - GUTTER - RIGHT);
    let y = |lane: &str| AXIS + LANE * lanes.iter().position(|l| l == lane).unwrap_or(0) as f64;
    let height = AXIS + LANE * lanes.len() as f64 + 4.0;
    let phases = phase_spans(marks, end);
    html! {
        svg.timeline viewBox={"0 0 " (WIDTH) " " (height)} role="img"
            aria-label={"Timeline of " (result.id)} data-scenario=(scenario_index) {
            @for (phase, from, to) in &phases {
                rect class={"phase phase-" (phase)} x=(x(*from)) y=(AXIS) width=((x(*to) - x(*from)).max(0.5))
                    height=(LANE * lanes.len() as f64) {}
                @if x(*to) - x(*from) > 60.0 {
                    text.phase-label x=(x(*from) + 3.0) y=(AXIS + LANE * lanes.len() as f64 - 4.0) { (phase) }
                }
            }
            @for tick in ticks(end) {
                line.tick x1=(x(tick)) x2=(x(tick)) y1=(AXIS - 4.0) y2=(height - 4.0) {}
                text.tick-label x=(x(tick)) y=(AXIS - 8.0) text-anchor="middle" { (short_clock(tick)) }
            }
            @for lane in &lanes {
                g.lane data-lane=(lane) {
                    line.lane-rule x1=(GUTTER) x2=(WIDTH - RIGHT) y1=(y(lane) + LANE / 2.0) y2=(y(lane) + LANE / 2.0) {}
                    text.lane-label x=(GUTTER - 8.0) y=(y(lane) + LANE / 2.0 + 4.0) text-anchor="end" { (lane) }
                    @for mark in marks.iter().filter(|m| &m.lane == lane) {
                        (shape(mark, x, y(lane)))
                    }
                }
            }
        }
    }
}

fn shape(mark: &Mark, x: impl Fn(f64) -> f64, top: f64) -> Markup {
    let mid = top + LANE / 2.0;
    let tip = format!("{:.3} s  {}", mark.at, mark.text);
    html! {
        g class={"mark " (mark.class)} data-seq=(mark.seq) tabindex="0" {
            title { (tip) }
            @if let Some(from) = mark.from {
                rect x=(x(from)) y=(top + 5.0) width=((x(mark.at) - x(from)).max(2.0)) height=(LANE - 10.0) rx="2" {}
            } @else {
                @match mark.kind {
                    "console" => line x1=(x(mark.at)) x2=(x(mark.at)) y1=(top + 4.0) y2=(top + 9.0) {},
                    "instrument" => rect x=(x(mark.at) - 4.0) y=(mid - 4.0) width="8" height="8" {},
                    _ => circle cx=(x(mark.at)) cy=(mid) r="4.5" {},
                }
            }
        }
    }
}

/// (phase, start, end) from the first step of each phase to the next phase's first step.
fn phase_spans(marks: &[Mark], end: f64) -> Vec<(String, f64, f64)> {
    let mut spans: Vec<(String, f64, f64)> = Vec::new();
    for step in marks.iter().filter(|m| m.kind == "step") {
        let phase = step.text.split(' ').next().unwrap_or_default().to_string();
        let from = step.from.unwrap_or(step.at);
        if spans.last().is_none_or(|(p, _, _)| *p != phase) {
            if let Some(last) = spans.last_mut() {
                last.2 = from;
            }
            spans.push((phase, from, end));
        }
    }
    spans
}

/// At most eleven round tick positions over `0..=end` seconds.
fn ticks(end: f64) -> Vec<f64> {
    let raw = end / 10.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(magnitude * 10.0);
    (0..)
        .map(|i| f64::from(i) * step)
        .take_while(|t| *t <= end + 1e-9)
        .collect()
}

fn short_clock(t: f64) -> String {
    if t < 60.0 {
        let s = format!("{t:.3}");
        format!("{}s", s.trim_end_matches('0').trim_end_matches('.'))
    } else {
        let secs = t.round() as u64;
        format!("{}:{:02}", secs / 60, secs % 60)
    }
}

/// A device-chosen name as a CSS class word: anything but `[a-z0-9_-]` becomes `-`.
fn css_word(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_run() {
        assert_eq!(
            ticks(165.0),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0, 120.0, 140.0, 160.0]
        );
        assert_eq!(ticks(1.0).last(), Some(&1.0));
        assert_eq!(short_clock(120.0), "2:00");
        assert_eq!(short_clock(0.1 * 3.0), "0.3s");
    }
}
