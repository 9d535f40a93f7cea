//! Support bundle: one `bundles/<id>.tar.gz` per scenario that did not pass, with everything a
//! firmware engineer needs without access to the rig, secrets redacted.
//!
//! ```text
//! <id>/manifest.json   versions, outcome, every step with its result, instrument readbacks
//! <id>/events.jsonl    the scenario's event stream
//! <id>/device.log      every device's console, stamped with rig time
//! <id>/snapshot.diff   the recovery trace against the reviewed snapshot, if it differs
//! <id>/files/…         the scenario file, the rig file, each device's firmware profile
//! ```

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use hil_runner::{Event, EventKind, SnapshotStatus};
use serde_json::{Value, json};

use crate::record::{RunSource, ScenarioRecord};
use crate::redact::{redact, redact_json};

pub fn write(path: &Path, run: &RunSource, scenario: &ScenarioRecord) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let result = &scenario.result;
    let root = PathBuf::from(&result.id);
    let mut sources = vec![
        ("scenario.toml".to_string(), result.path.clone()),
        ("rig.toml".to_string(), run.rig_path.clone()),
    ];
    for (device, firmware) in &result.firmware {
        sources.push((format!("profiles/{device}.toml"), firmware.path.clone()));
    }
    let mut files = Vec::new();
    let mut unreadable = Vec::new();
    for (name, source) in sources {
        match std::fs::read_to_string(&source) {
            Ok(text) => files.push((root.join("files").join(&name), redact(&text).into_owned())),
            // The bundle is still worth having; the manifest says what is missing.
            Err(e) => unreadable.push(format!("{}: {e}", source.display())),
        }
    }

    let mut manifest = manifest(run, scenario, &files, &unreadable);
    redact_json(&mut manifest);
    let mut events = String::new();
    for event in &scenario.events {
        let mut value = serde_json::to_value(event)?;
        redact_json(&mut value);
        events.push_str(&value.to_string());
        events.push('\n');
    }
    files.push((
        root.join("manifest.json"),
        serde_json::to_string_pretty(&manifest)? + "\n",
    ));
    files.push((root.join("events.jsonl"), events));
    files.push((root.join("device.log"), redact(&result.log).into_owned()));
    if let SnapshotStatus::Mismatch { diff } = &result.snapshot {
        files.push((root.join("snapshot.diff"), redact(diff).into_owned()));
    }

    let gz = GzEncoder::new(File::create(path)?, Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (name, text) in &files {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        tar.append_data(&mut header, name, text.as_bytes())?;
    }
    tar.into_inner()?.finish()?;
    Ok(())
}

fn manifest(
    run: &RunSource,
    scenario: &ScenarioRecord,
    files: &[(PathBuf, String)],
    unreadable: &[String],
) -> Value {
    let result = &scenario.result;
    let (steps, readbacks) = steps_and_readbacks(&scenario.events);
    json!({
        "hil_version": crate::HIL_VERSION,
        "run_id": run.run_id,
        "rig": result.rig,
        "rig_file": run.rig_path,
        "scenario": {
            "id": result.id,
            "failure": result.failure,
            "title": result.title,
            "file": result.path,
        },
        "outcome": result.outcome,
        "message": result.message,
        "warnings": result.warnings,
        "seed": result.seed,
        "rerun": result.rerun,
        "firmware": result.firmware,
        "rig_secs": result.rig_secs,
        "wall_secs": result.wall_secs,
        "steps": steps,
        "readbacks": readbacks,
        "measurements": result.measurements,
        "files": files.iter().map(|(name, _)| name).collect::<Vec<_>>(),
        "unreadable": unreadable,
    })
}

/// Every step that ran, with when it started and finished (rig time) and its result; and
/// what each instrument was told and read back.
fn steps_and_readbacks(events: &[Event]) -> (Vec<Value>, Vec<Value>) {
    let mut steps: Vec<Value> = Vec::new();
    let mut readbacks = Vec::new();
    for event in events {
        let at = event.at.as_secs_f64();
        match &event.kind {
            EventKind::StepStarted {
                phase,
                index,
                action,
                location,
            } => steps.push(json!({
                "phase": phase,
                "index": index,
                "action": action,
                "location": location,
                "started_at": at,
            })),
            EventKind::StepFinished {
                outcome, message, ..
            } => {
                if let Some(Value::Object(step)) = steps.last_mut() {
                    step.insert("finished_at".into(), json!(at));
                    step.insert("outcome".into(), json!(outcome));
                    step.insert("message".into(), json!(message));
                }
            }
            EventKind::InstrumentAction {
                instrument,
                action,
                readback,
            } => readbacks.push(json!({
                "at": at,
                "instrument": instrument,
                "action": action,
                "readback": readback,
            })),
            EventKind::RunStarted { .. }
            | EventKind::ScenarioStarted { .. }
            | EventKind::ConsoleLine { .. }
            | EventKind::Progress { .. }
            | EventKind::DeviceEvent { .. }
            | EventKind::Measurement(_)
            | EventKind::ScenarioFinished(_)
            | EventKind::RunFinished(_) => {}
        }
    }
    (steps, readbacks)
}
