//! Probe steps in a run: each reaches the device's probe in order and is reported with what it
//! left the core in; an RTT console attached by a step feeds the same rules and events as a UART;
//! a probe that fails is the rig's ERROR.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use hil_rig::{Console, Probe, RigError};
use hil_runner::{
    Event, EventBus, EventKind, InstrumentReadback, Outcome, Planned, Reporter, RunOptions,
    ScenarioResult, SnapshotMode, TargetState, run_all,
};
use hil_scenario::{Image, Rig, Scenario};
use tokio::sync::mpsc;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Collect(Arc<Mutex<Vec<Event>>>);

impl Reporter for Collect {
    fn on_event(&mut self, event: &Event) {
        self.0.lock().unwrap().push(event.clone());
    }
}

/// A bench probe's behaviour as the runner sees it: records calls, and its RTT carries the
/// firmware's boot log. (The probe-rs driver itself is tested in hil-rig.)
struct BenchLike {
    calls: Arc<Mutex<Vec<String>>>,
    fails: bool,
}

impl BenchLike {
    fn call(&self, what: String) -> Result<(), RigError> {
        self.calls.lock().unwrap().push(what);
        if self.fails {
            Err(RigError::new(
                "probe on ring",
                "cannot attach: target not responding",
            ))
        } else {
            Ok(())
        }
    }
}

struct Lines(mpsc::UnboundedReceiver<String>);

#[async_trait]
impl Console for Lines {
    async fn read_line(&mut self) -> Result<Option<String>, RigError> {
        Ok(self.0.recv().await)
    }
}

#[async_trait]
impl Probe for BenchLike {
    async fn flash(&mut self, image: &Image) -> Result<(), RigError> {
        self.call(format!("flash {}", image.profile.version))
    }

    async fn reset(&mut self) -> Result<(), RigError> {
        self.call("reset".into())
    }

    async fn halt(&mut self) -> Result<(), RigError> {
        self.call("halt".into())
    }

    async fn erase(&mut self) -> Result<(), RigError> {
        self.call("erase".into())
    }

    async fn rtt(&mut self, within: Duration) -> Result<Box<dyn Console>, RigError> {
        self.call(format!("rtt within {within:?}"))?;
        let (tx, rx) = mpsc::unbounded_channel();
        tx.send("INFO pm: booting".into()).unwrap();
        tx.send("<inf> pm: reset reason: probe".into()).unwrap();
        Ok(Box::new(Lines(rx)))
    }
}

const STEPS: &str = r#"id = "T-probe"
failure = "F09"
title = "probe steps"
needs = ["ring.probe"]

[[recover]]
halt = { device = "ring" }
[[recover]]
reset = { device = "ring" }
[[recover]]
rtt = { device = "ring", within = "3s" }
[[recover]]
wait_for = { device = "ring", event = "boot", within = "5s" }
"#;

fn run(fails: bool) -> (ScenarioResult, Vec<Event>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let profile = repo().join("fixtures/profiles/ring-fw-2.1.toml");
    let rig_path = dir.path().join("bench.toml");
    std::fs::write(
        &rig_path,
        format!(
            "name = \"bench\"\n[device.ring]\nprofile = {:?}\nprobe = {{ selector = \"1366:1015\", chip = \"nRF52840_xxAA\" }}\n",
            profile.display().to_string()
        ),
    )
    .unwrap();
    let rig = Rig::load(&rig_path).unwrap();
    let path = dir.path().join("t.toml");
    std::fs::write(&path, STEPS).unwrap();
    let plan = Scenario::load(&path).unwrap().plan(&rig).unwrap();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let connect = |_: &Rig, _| {
        let mut connected = hil_rig::Rig::default();
        let probe = BenchLike {
            calls: calls.clone(),
            fails,
        };
        connected.probes.insert("ring".into(), Box::new(probe));
        connected
    };
    let events = Arc::new(Mutex::new(Vec::new()));
    let bus = EventBus::new(vec![Box::new(Collect(events.clone()))]);
    let options = RunOptions {
        run_id: "test".into(),
        seed: 7,
        snapshot_mode: SnapshotMode::Accept,
        interrupt: Default::default(),
        quarantine: Default::default(),
        instrument_retries: 0,
    };
    let (_, mut results) = run_all(
        &[Planned::Ready(Box::new(plan))],
        &rig,
        &connect,
        &bus,
        &options,
    )
    .unwrap();
    let events = events.lock().unwrap().clone();
    let calls = calls.lock().unwrap().clone();
    (results.remove(0), events, calls)
}

#[test]
fn probe_steps_run_in_order_and_rtt_lines_become_device_events() {
    let (result, events, calls) = run(false);
    assert_eq!(result.outcome, Outcome::Pass, "{:?}", result.message);
    assert_eq!(calls, ["halt", "reset", "rtt within 3s"]);
    let actions: Vec<(String, InstrumentReadback)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::InstrumentAction {
                instrument,
                action,
                readback,
            } if instrument == "probe on ring" => Some((action.clone(), readback.clone())),
            _ => None,
        })
        .collect();
    let target = |state| InstrumentReadback::Target { state };
    assert_eq!(
        actions,
        [
            ("halt".into(), target(TargetState::Halted)),
            ("reset".into(), target(TargetState::Running)),
            ("attach RTT".into(), target(TargetState::Logging)),
        ]
    );
    let lines: Vec<&str> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ConsoleLine { device, line } if device == "ring" => Some(line.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(lines, ["INFO pm: booting", "<inf> pm: reset reason: probe"]);
    let boot = events.iter().find_map(|e| match &e.kind {
        EventKind::DeviceEvent {
            device,
            name,
            fields,
            ..
        } if device == "ring" && name == "boot" => Some(fields.clone()),
        _ => None,
    });
    assert_eq!(boot.unwrap()["reason"], "probe");
}

#[test]
fn a_probe_that_fails_is_the_rigs_error_not_the_devices_fail() {
    let (result, _, calls) = run(true);
    assert_eq!(result.outcome, Outcome::Error);
    let message = result.message.unwrap();
    assert!(
        message.contains("probe on ring: cannot attach"),
        "{message}"
    );
    assert_eq!(calls, ["halt"], "nothing runs after the failed step");
}
