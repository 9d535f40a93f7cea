//! How scenarios end on the virtual rig: PASS / FAIL / ERROR / TIMEOUT, safe state on every path,
//! the physics behind F01, determinism.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use hil_runner::{
    Connect, Event, EventBus, EventKind, InstrumentReadback, Interrupt, Outcome, Planned, Reporter,
    RunOptions, ScenarioResult, SnapshotMode, SnapshotStatus, run_all,
};
use hil_scenario::{Rig, Scenario};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Collect(Arc<Mutex<Vec<Event>>>);

impl Reporter for Collect {
    fn on_event(&mut self, event: &Event) {
        self.0.lock().unwrap().push(event.clone());
    }
}

const HEADER: &str = r#"id = "T"
failure = "F01"
title = "test"
"#;

/// Runs one scenario (written to a temp dir, snapshots beside it) on the virtual rig.
fn run_with(body: &str, mode: SnapshotMode, connect: &Connect<'_>) -> (ScenarioResult, Vec<Event>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.toml");
    std::fs::write(&path, format!("{HEADER}{body}")).unwrap();
    let rig = Rig::load(&repo().join("rigs/virtual.toml")).unwrap();
    let scenario = Scenario::load(&path).unwrap();
    let plan = match scenario.plan(&rig) {
        Ok(plan) => plan,
        Err(e) => panic!("{e:?}"),
    };
    let events = Arc::new(Mutex::new(Vec::new()));
    let bus = EventBus::new(vec![Box::new(Collect(events.clone()))]);
    let options = RunOptions {
        run_id: "test".into(),
        seed: 7,
        snapshot_mode: mode,
        interrupt: Default::default(),
        quarantine: Default::default(),
        instrument_retries: 2,
    };
    let (_, mut results) = run_all(
        &[Planned::Ready(Box::new(plan))],
        &rig,
        connect,
        &bus,
        &options,
    )
    .unwrap();
    let events = events.lock().unwrap().clone();
    (results.remove(0), events)
}

fn run(body: &str) -> (ScenarioResult, Vec<Event>) {
    run_with(body, SnapshotMode::Accept, &hil_sim::start)
}

fn device_events(events: &[Event], device: &str) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::DeviceEvent {
                device: d, name, ..
            } if d == device => Some(name.clone()),
            _ => None,
        })
        .collect()
}

/// The supplies' readbacks in the safe state, by instrument action text.
fn safe_state_readbacks(events: &[Event]) -> Vec<(String, bool)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::InstrumentAction {
                action,
                readback: InstrumentReadback::Supply(r),
                ..
            } if action.starts_with("safe state") => Some((action.clone(), r.output_on)),
            _ => None,
        })
        .collect()
}

fn assert_safe(events: &[Event]) {
    let mut offs = safe_state_readbacks(events);
    offs.sort();
    let feeds = Rig::load(&repo().join("rigs/virtual.toml"))
        .unwrap()
        .devices
        .values()
        .filter(|d| d.power.is_some())
        .count();
    let expected: Vec<(String, bool)> = (1..=feeds)
        .map(|ch| (format!("safe state: ch{ch} off"), false))
        .collect();
    assert_eq!(
        offs, expected,
        "every supply channel reads back off at the end"
    );
    let released = events.iter().any(|e| {
        matches!(&e.kind, EventKind::InstrumentAction {
            action,
            readback: InstrumentReadback::Contact { closed: false },
            ..
        } if action == "safe state: ch1 open")
    });
    assert!(released, "the ring's button contact is released at the end");
}

const LOW_RING: &str = r#"
[[setup]]
power = { device = "ring", volts = 3.62, series_ohms = 1.0 }
[[setup]]
wait_for = { device = "ring", event = "advertising", within = "10s" }
"#;

#[test]
fn a_device_that_does_not_pair_is_a_fail() {
    let (result, events) = run(&format!(
        "{LOW_RING}[[reproduce]]\npair = {{ central = \"phone\", device = \"ring\", expect = \"ok\", within = \"1m\" }}\n"
    ));
    assert_eq!(result.outcome, Outcome::Fail, "{result:?}");
    let message = result.message.unwrap();
    assert!(
        message.contains("ring did not pair with phone within 1m"),
        "{message}"
    );
    assert!(
        message.contains("hci_0x08"),
        "the first attempt browned out: {message}"
    );
    assert_safe(&events);
}

#[test]
fn a_missing_instrument_is_an_error_not_a_fail() {
    let unplugged = |rig: &Rig, seed| {
        let mut connected = hil_sim::start(rig, seed);
        connected.centrals.remove("phone");
        connected
    };
    let (result, events) = run_with(
        &format!(
            "{LOW_RING}[[reproduce]]\npair = {{ central = \"phone\", device = \"ring\", expect = \"ok\" }}\n"
        ),
        SnapshotMode::Accept,
        &unplugged,
    );
    assert_eq!(result.outcome, Outcome::Error, "{result:?}");
    assert!(
        result
            .message
            .unwrap()
            .contains("phone: central is not connected")
    );
    assert_eq!(
        result.snapshot,
        SnapshotStatus::NotChecked,
        "a rig fault says nothing about recovery"
    );
    assert_safe(&events);
}

#[test]
fn a_scenario_past_its_timeout_times_out_and_still_reaches_safe_state() {
    let (result, events) = run(&format!(
        "timeout = \"30s\"\n{LOW_RING}[[reproduce]]\nwait = \"5m\"\n"
    ));
    assert_eq!(result.outcome, Outcome::Timeout, "{result:?}");
    assert!(
        (30.0..40.0).contains(&result.rig_secs),
        "stopped at the timeout: {}",
        result.rig_secs
    );
    assert_safe(&events);
}

#[test]
fn an_event_that_never_comes_is_a_fail() {
    let (result, _) = run(&format!(
        "{LOW_RING}[[reproduce]]\nwait_for = {{ device = \"ring\", event = \"bonded\", within = \"20s\" }}\n"
    ));
    assert_eq!(result.outcome, Outcome::Fail);
    assert!(
        result
            .message
            .unwrap()
            .contains("ring did not report `bonded` within 20s")
    );
}

#[test]
fn a_measurement_over_its_limit_is_a_fail() {
    let (result, _) = run(r#"
[[setup]]
power = { device = "ring", volts = 4.2 }
[[reproduce]]
pair = { central = "phone", device = "ring", expect = "ok" }
[[measure]]
name = "pairing_time"
max = "2s"
"#);
    assert_eq!(result.outcome, Outcome::Fail, "{result:?}");
    assert!(
        result
            .message
            .unwrap()
            .starts_with("measurement out of limits: pairing_time")
    );
}

/// F01's mechanism: the same resting voltage pairs with a stiff supply and browns out behind the
/// internal resistance of a small cell.
#[test]
fn internal_resistance_not_voltage_causes_the_brownout() {
    let pair = "[[reproduce]]\npair = { central = \"phone\", device = \"ring\", expect = \"ok\", within = \"30s\" }\n";
    let stiff = LOW_RING.replace("series_ohms = 1.0", "series_ohms = 0.0");
    let (result, events) = run(&format!("{stiff}{pair}"));
    assert_eq!(result.outcome, Outcome::Pass, "{result:?}");
    assert!(!device_events(&events, "ring").contains(&"power_fail_warning".to_string()));

    let (result, events) = run(&format!("{LOW_RING}{pair}"));
    assert_eq!(result.outcome, Outcome::Fail);
    let ring = device_events(&events, "ring");
    let sag = ring
        .iter()
        .position(|e| e == "power_fail_warning")
        .expect("browned out");
    assert_eq!(
        ring[sag - 1],
        "pairing_started",
        "the sag comes with the pairing peak: {ring:?}"
    );
}

#[test]
fn the_same_seed_gives_the_same_event_stream() {
    let body = format!(
        "{LOW_RING}[[reproduce]]\npair = {{ central = \"phone\", device = \"ring\", expect = \"fail\", attempts = 3 }}\n"
    );
    let strip = |events: Vec<Event>| -> Vec<String> {
        events
            .into_iter()
            .filter_map(|mut e| match &mut e.kind {
                // Wall-clock durations differ from run to run by nature.
                EventKind::ScenarioFinished(_) | EventKind::RunFinished(_) => None,
                // Each run writes its scenario to its own temp dir.
                EventKind::StepStarted { location, .. } => {
                    location.clear();
                    Some(e)
                }
                _ => Some(e),
            })
            .map(|e| serde_json::to_string(&e).unwrap())
            .collect()
    };
    let (_, first) = run(&body);
    let (_, second) = run(&body);
    assert_eq!(strip(first), strip(second));
}

#[test]
fn a_missing_snapshot_fails_and_is_offered_for_review() {
    let (result, _) = run_with(
        "[[setup]]\npower = { device = \"lock\", volts = 6.0 }\n[[setup]]\nwait_for = { device = \"lock\", event = \"advertising\", within = \"5s\" }\n",
        SnapshotMode::Check,
        &hil_sim::start,
    );
    assert_eq!(result.outcome, Outcome::Fail);
    let SnapshotStatus::Missing { trace } = result.snapshot else {
        panic!("expected a missing snapshot");
    };
    assert_eq!(
        trace,
        "lock:\n  setup:\n    firmware version=1.4.2\n    boot reason=power_on\n    battery\n    bolt position=locked\n    codes count=3 digest=fa15\n    advertising"
    );
}

/// Runs plans with an interrupt the test controls.
fn run_plans(
    bodies: &[&str],
    connect: &Connect<'_>,
    interrupt: Interrupt,
) -> (Vec<ScenarioResult>, Vec<Event>) {
    let dir = tempfile::tempdir().unwrap();
    let rig = Rig::load(&repo().join("rigs/virtual.toml")).unwrap();
    let planned: Vec<Planned> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let path = dir.path().join(format!("t{i}.toml"));
            std::fs::write(
                &path,
                format!("{}{body}", HEADER.replace("\"T\"", &format!("\"T{i}\""))),
            )
            .unwrap();
            Planned::Ready(Box::new(
                Scenario::load(&path)
                    .unwrap()
                    .plan(&rig)
                    .unwrap_or_else(|e| panic!("{e:?}")),
            ))
        })
        .collect();
    let events = Arc::new(Mutex::new(Vec::new()));
    let bus = EventBus::new(vec![Box::new(Collect(events.clone()))]);
    let options = RunOptions {
        run_id: "test".into(),
        seed: 7,
        snapshot_mode: SnapshotMode::Accept,
        interrupt,
        quarantine: Default::default(),
        instrument_retries: 2,
    };
    let (_, results) = run_all(&planned, &rig, connect, &bus, &options).unwrap();
    let events = events.lock().unwrap().clone();
    (results, events)
}

#[test]
fn an_operator_interrupt_aborts_through_safe_state_and_skips_the_rest() {
    let interrupt = Interrupt::default();
    let raise = interrupt.clone();
    // Ctrl-C arrives 30 s (rig time) into the first scenario.
    let connect = move |rig: &Rig, seed| {
        let raise = raise.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            raise.raise("SIGINT");
        });
        hil_sim::start(rig, seed)
    };
    let long = format!("{LOW_RING}[[reproduce]]\nwait = \"5m\"\n");
    let (results, events) = run_plans(&[&long, &long], &connect, interrupt);
    assert_eq!(results[0].outcome, Outcome::Aborted, "{:?}", results[0]);
    assert_eq!(results[0].message.as_deref(), Some("stopped by SIGINT"));
    assert!(
        (30.0..31.0).contains(&results[0].rig_secs),
        "stopped at once: {}",
        results[0].rig_secs
    );
    assert_eq!(results[1].outcome, Outcome::Aborted);
    assert!(
        results[1]
            .message
            .as_deref()
            .unwrap()
            .starts_with("not started")
    );
    assert_safe(&events);
    assert!(
        matches!(events.last().unwrap().kind, EventKind::RunFinished(_)),
        "the report is complete"
    );
}

/// A driver that panics when asked to set a voltage (a bug), but can still switch off.
struct PanickingPsu(Box<dyn hil_rig::PowerSupply>);

#[async_trait::async_trait]
impl hil_rig::PowerSupply for PanickingPsu {
    async fn apply(
        &mut self,
        _channel: u8,
        _setpoint: hil_scenario::Setpoint,
    ) -> Result<hil_rig::Readback, hil_rig::RigError> {
        panic!("index out of bounds in the SCPI reply parser");
    }

    async fn off(&mut self, channel: u8) -> Result<hil_rig::Readback, hil_rig::RigError> {
        self.0.off(channel).await
    }
}

#[test]
fn a_panic_in_a_driver_is_an_error_and_still_reaches_safe_state() {
    let buggy = |rig: &Rig, seed| {
        let mut connected = hil_sim::start(rig, seed);
        let psu = connected.power.remove("psu").unwrap();
        connected
            .power
            .insert("psu".into(), Box::new(PanickingPsu(psu)));
        connected
    };
    let (results, events) = run_plans(&[LOW_RING], &buggy, Interrupt::default());
    assert_eq!(results[0].outcome, Outcome::Error, "{:?}", results[0]);
    let message = results[0].message.as_deref().unwrap();
    assert!(
        message.contains("panic") && message.contains("SCPI reply parser"),
        "{message}"
    );
    assert_safe(&events);
}

/// A supply whose output reads back 0.5 V above what was set (a failing regulator).
struct OverVolting(Box<dyn hil_rig::PowerSupply>);

#[async_trait::async_trait]
impl hil_rig::PowerSupply for OverVolting {
    async fn apply(
        &mut self,
        channel: u8,
        setpoint: hil_scenario::Setpoint,
    ) -> Result<hil_rig::Readback, hil_rig::RigError> {
        let mut readback = self.0.apply(channel, setpoint).await?;
        readback.volts += 0.5;
        Ok(readback)
    }

    async fn off(&mut self, channel: u8) -> Result<hil_rig::Readback, hil_rig::RigError> {
        self.0.off(channel).await
    }
}

#[test]
fn a_readback_over_the_rigs_limit_is_an_error_and_ends_in_safe_state() {
    let faulty = |rig: &Rig, seed| {
        let mut connected = hil_sim::start(rig, seed);
        let psu = connected.power.remove("psu").unwrap();
        connected
            .power
            .insert("psu".into(), Box::new(OverVolting(psu)));
        connected
    };
    // 4.20 V asked, 4.70 V read: over the ring's 4.25 V limit.
    let (results, events) = run_plans(
        &["[[setup]]\npower = { device = \"ring\", volts = 4.2 }\n[[setup]]\nwait = \"10s\"\n"],
        &faulty,
        Interrupt::default(),
    );
    assert_eq!(results[0].outcome, Outcome::Error, "{:?}", results[0]);
    let message = results[0].message.as_deref().unwrap();
    assert!(
        message.contains("reads back 4.700 V, over the 4.25 V limit for ring"),
        "{message}"
    );
    assert_safe(&events);
}

#[test]
fn a_rig_that_keeps_erroring_is_marked_unhealthy_and_the_rest_skipped() {
    let unplugged = |rig: &Rig, seed| {
        let mut connected = hil_sim::start(rig, seed);
        connected.centrals.remove("phone");
        connected
    };
    let body = format!(
        "{LOW_RING}[[reproduce]]\npair = {{ central = \"phone\", device = \"ring\", expect = \"ok\" }}\n"
    );
    let (results, _) = run_plans(
        &[&body, &body, &body, &body, &body],
        &unplugged,
        Interrupt::default(),
    );
    let outcomes: Vec<Outcome> = results.iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [
            Outcome::Error,
            Outcome::Error,
            Outcome::Error,
            Outcome::Skipped,
            Outcome::Skipped
        ]
    );
    let reason = results[3].message.as_deref().unwrap();
    assert!(
        reason.starts_with("rig `virtual` marked unhealthy after 3 rig errors in a row (last: ")
            && reason.contains("phone: central is not connected"),
        "{reason}"
    );
}

const BOTH_POWERED: &str = r#"
[[setup]]
power = { device = "ring", volts = 4.0 }
[[setup]]
power = { device = "lock", volts = 6.0 }
"#;

#[test]
fn wait_fors_on_different_devices_do_not_depend_on_which_came_first() {
    // The ring boots faster (1.2 s) than the lock (2.0 s): waiting for the lock first must
    // still find the ring's earlier advertising.
    let (result, _) = run(&format!(
        "{BOTH_POWERED}[[reproduce]]\nwait_for = {{ device = \"lock\", event = \"advertising\", within = \"10s\" }}\n[[reproduce]]\nwait_for = {{ device = \"ring\", event = \"advertising\", within = \"10s\" }}\n"
    ));
    assert_eq!(result.outcome, Outcome::Pass, "{result:?}");
}

#[test]
fn wait_fors_on_one_device_read_its_log_in_order() {
    // The ring advertises once: a second wait for it needs a second advertisement.
    let (result, _) = run(&format!(
        "{BOTH_POWERED}[[reproduce]]\nwait_for = {{ device = \"ring\", event = \"advertising\", within = \"10s\" }}\n[[reproduce]]\nwait_for = {{ device = \"ring\", event = \"advertising\", within = \"10s\" }}\n"
    ));
    assert_eq!(result.outcome, Outcome::Fail, "{result:?}");
    assert!(result.message.unwrap().contains("reproduce step 2 ("));
}

#[test]
fn a_scan_hears_a_powered_device_and_measures_its_rssi() {
    let (result, events) = run(&format!(
        "{BOTH_POWERED}[[reproduce]]\nwait_for = {{ device = \"ring\", event = \"advertising\", within = \"10s\" }}\n[[reproduce]]\nscan = {{ central = \"phone\", device = \"ring\", within = \"2s\" }}\n[[reproduce]]\nattenuate = {{ db = 90 }}\n[[reproduce]]\nscan = {{ central = \"phone\", device = \"ring\", expect = \"fail\", measure = \"rssi_behind_90db\" }}\n"
    ));
    assert_eq!(result.outcome, Outcome::Pass, "{result:?}");
    let rssi: Vec<(String, f64)> = result
        .measurements
        .iter()
        .map(|m| (m.name.clone(), m.value))
        .collect();
    assert_eq!(rssi.len(), 1, "only the heard scan measures: {rssi:?}");
    assert_eq!(rssi[0].0, "rssi");
    assert!((-70.0..-30.0).contains(&rssi[0].1), "{rssi:?}");
    assert_eq!(
        device_events(&events, "phone"),
        ["heard", "not_heard"],
        "the central's view goes into the trace"
    );
}

#[test]
fn a_device_the_scan_should_hear_but_does_not_is_a_fail() {
    let (result, _) =
        run("[[reproduce]]\nscan = { central = \"phone\", device = \"lock\", within = \"3s\" }\n");
    assert_eq!(result.outcome, Outcome::Fail, "{result:?}");
    assert!(
        result
            .message
            .unwrap()
            .contains("phone did not hear lock within 3s (heard: nothing)")
    );
}

/// A device flooding its console: 25 000 lines at once, then quiet; every 1000th says it is
/// advertising.
struct FloodingConsole(usize);

#[async_trait::async_trait]
impl hil_rig::Console for FloodingConsole {
    async fn read_line(&mut self) -> Result<Option<String>, hil_rig::RigError> {
        if self.0 == 25_000 {
            std::future::pending::<()>().await;
        }
        self.0 += 1;
        Ok(Some(if self.0.is_multiple_of(1000) {
            "[00:00:01.200,000] <inf> bt: advertising as ring".to_string()
        } else {
            format!("\u{fffd}\u{1}noise {}", self.0)
        }))
    }
}

#[test]
fn a_flooding_console_is_recorded_up_to_a_bound_and_its_events_still_count() {
    let flooding = |rig: &Rig, seed| {
        let mut connected = hil_sim::start(rig, seed);
        connected
            .consoles
            .insert("ring".into(), Box::new(FloodingConsole(0)));
        connected
    };
    let (result, events) = run_with(
        "[[reproduce]]\nwait = \"1s\"\n",
        SnapshotMode::Accept,
        &flooding,
    );
    assert_eq!(result.outcome, Outcome::Pass, "{result:?}");
    let ring_lines: Vec<&str> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ConsoleLine { device, line } if device == "ring" => Some(line.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(ring_lines.len(), 20_001, "20 000 lines and one notice");
    assert!(
        ring_lines[20_000].contains("console flood"),
        "{}",
        ring_lines[20_000]
    );
    assert_eq!(
        device_events(&events, "ring")
            .iter()
            .filter(|e| *e == "advertising")
            .count(),
        25,
        "lines past the bound still become events"
    );
}

/// The lock powered and paired with the phone.
const LOCK_PAIRED: &str = r#"
[[setup]]
power = { device = "lock", volts = 6.0 }
[[setup]]
wait_for = { device = "lock", event = "advertising", within = "10s" }
[[setup]]
pair = { central = "phone", device = "lock", expect = "ok" }
"#;

#[test]
fn a_gatt_value_other_than_expected_is_a_fail_in_the_profiles_words() {
    let (result, events) = run(&format!(
        "{LOCK_PAIRED}[[reproduce]]\ngatt_read = {{ central = \"phone\", device = \"lock\", characteristic = \"status\", expect = \"unlocked\" }}\n"
    ));
    assert_eq!(result.outcome, Outcome::Fail, "{result:?}");
    let message = result.message.unwrap();
    assert!(
        message.contains("lock status reads locked, expected unlocked"),
        "{message}"
    );
    assert_safe(&events);
}

#[test]
fn a_subscription_that_hears_nothing_is_a_fail_that_says_so() {
    let (result, events) = run(&format!(
        "{LOCK_PAIRED}[[reproduce]]\nsubscribe = {{ central = \"phone\", device = \"lock\", characteristic = \"status\", expect = \"unlocked\", within = \"3s\" }}\n"
    ));
    assert_eq!(result.outcome, Outcome::Fail, "{result:?}");
    let message = result.message.unwrap();
    assert!(
        message.contains("lock did not notify status = unlocked (notified: nothing)"),
        "{message}"
    );
    // The link was held for the window, then closed: the lock logged both ends.
    let lock = device_events(&events, "lock");
    assert!(
        lock.ends_with(&[
            "connected".into(),
            "encrypted".into(),
            "disconnected".into(),
            "advertising".into()
        ]),
        "{lock:?}"
    );
}

#[test]
fn a_write_the_firmware_refuses_is_its_att_error_and_an_accepted_one_moves_the_bolt() {
    let (result, events) = run(&format!(
        "{LOCK_PAIRED}[[reproduce]]\ngatt_write = {{ central = \"phone\", device = \"lock\", characteristic = \"control\", value = \"0x7f\", expect = \"fail\" }}\n[[recover]]\ngatt_write = {{ central = \"phone\", device = \"lock\", characteristic = \"control\", value = \"unlock\" }}\n[[recover]]\ngatt_write = {{ central = \"phone\", device = \"lock\", characteristic = \"control\", value = \"unlock\", expect = \"fail\" }}\n"
    ));
    assert_eq!(result.outcome, Outcome::Fail, "{result:?}");
    let message = result.message.unwrap();
    assert!(
        message.contains(
            "phone could write control = unlock to lock, but the step expects it refused"
        ),
        "{message}"
    );
    let reasons: Vec<&str> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::DeviceEvent { name, fields, .. } if name == "gatt_failed" => {
                fields.get("reason").map(String::as_str)
            }
            _ => None,
        })
        .collect();
    assert_eq!(reasons, ["att_0x13 (value not allowed)"]);
    assert!(
        device_events(&events, "lock").contains(&"motor_start".to_string()),
        "the accepted write ran the motor"
    );
}
