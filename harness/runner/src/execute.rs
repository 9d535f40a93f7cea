//! Runs one plan against a connected rig and reports everything through the event bus.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hil_rig::time::{Instant, sleep, timeout, timeout_at};
use hil_rig::{Central, CommandOutcome, Console, LinkOutcome, RigError, RigErrorKind};
use hil_scenario::{Action, Expect, Plan, PlannedStep, PowerSetting, Profile, Unit};
use tokio::task::JoinHandle;

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;

use crate::bus::EventBus;
use crate::event::{
    EventKind, Firmware, InstrumentReadback, Measurement, Outcome, ScenarioResult, SnapshotStatus,
    Verdict,
};
use crate::interrupt::Interrupt;
use crate::snapshot::{self, SnapshotMode};
use crate::trace::recovery_trace;

mod dfu;
mod gatt;

/// The app's pause between pairing attempts.
const RETRY_BACKOFF: Duration = Duration::from_secs(5);
/// Pause before retrying an instrument, times the attempt: longer than a driver's answer
/// timeout, so a late answer to the failed command has arrived (and is discarded) first.
const RETRY_AFTER: Duration = Duration::from_millis(2500);
/// Measurement error allowed on a supply's voltage readback before it counts as over the limit.
const READBACK_TOLERANCE_VOLTS: f64 = 0.05;
/// Attenuation that cuts the RF link (the attenuator's maximum).
const LINK_CUT_DB: f64 = 90.0;
/// How long a step that needs a link may take to get one.
const DEFAULT_LINK_DEADLINE: Duration = Duration::from_secs(30);
/// After the last step, time for devices to finish what they started, so the trace ends at rest.
const SETTLE: Duration = Duration::from_secs(2);

/// Everything a scenario run needs besides the rig handles.
pub struct ScenarioContext<'a> {
    pub plan: &'a Plan,
    pub rig: &'a hil_scenario::Rig,
    pub bus: &'a EventBus,
    pub seed: u64,
    pub snapshot_mode: SnapshotMode,
    pub rerun: String,
    pub interrupt: Interrupt,
    /// The quarantine note, if the scenario is known to be flaky.
    pub quarantined: Option<String>,
    /// How often an idempotent instrument action is retried before it is an ERROR.
    pub instrument_retries: u32,
}

/// Why a step stopped the scenario.
struct Stop {
    outcome: Outcome,
    message: String,
}

impl From<RigError> for Stop {
    fn from(e: RigError) -> Self {
        Stop {
            outcome: Outcome::Error,
            message: e.to_string(),
        }
    }
}

fn fail(message: String) -> Stop {
    Stop {
        outcome: Outcome::Fail,
        message,
    }
}

/// Console lines of one device recorded per scenario. A device flooding its console (a wrong baud
/// rate, a logger gone wild) must not grow the run, its reports and its bundle without bound;
/// past this, lines still become events, but are not kept. About a megabyte of text: minutes of
/// a chatty firmware's log, two of a 115200-baud UART at full speed.
const RECORDED_LINES: usize = 20_000;

/// A console fault seen by a monitor task, surfaced at the next step boundary.
type FaultSlot = Arc<Mutex<Option<RigError>>>;

pub async fn run_scenario(ctx: ScenarioContext<'_>, mut rig: hil_rig::Rig) -> ScenarioResult {
    let wall = std::time::Instant::now();
    let plan = ctx.plan;
    let bus = ctx.bus;
    bus.restart_clock();
    let started = Instant::now();
    bus.emit(EventKind::ScenarioStarted {
        id: plan.id.clone(),
        failure: plan.failure.clone(),
        title: plan.title.clone(),
    });

    let fault = FaultSlot::default();
    let monitors: Vec<JoinHandle<()>> = std::mem::take(&mut rig.consoles)
        .into_iter()
        .filter_map(|(device, console)| {
            let profile = ctx.rig.devices.get(&device)?.profile.clone();
            Some(spawn_monitor(
                device,
                profile,
                console,
                bus.clone(),
                fault.clone(),
            ))
        })
        .collect();

    let mut executor = Executor {
        plan,
        description: ctx.rig,
        monitors,
        bus,
        rig: &mut rig,
        fault,
        measurements: Vec::new(),
        warnings: Vec::new(),
        retries: ctx.instrument_retries,
        cursor: (0, Duration::ZERO),
        seen: BTreeMap::new(),
    };
    // A panic in a driver or a model is the rig's fault, and must not skip the safe state.
    let steps = AssertUnwindSafe(timeout(plan.timeout, executor.run_steps())).catch_unwind();
    let finished = tokio::select! {
        biased;
        cause = ctx.interrupt.raised() => Err(cause),
        finished = steps => Ok(finished),
    };
    let stop = match finished {
        Ok(Ok(Ok(Ok(())))) => None,
        Ok(Ok(Ok(Err(stop)))) => Some(stop),
        Ok(Ok(Err(_))) => Some(Stop {
            outcome: Outcome::Timeout,
            message: format!(
                "scenario did not finish within its timeout of {}",
                humantime::format_duration(plan.timeout)
            ),
        }),
        Ok(Err(panic)) => Some(Stop {
            outcome: Outcome::Error,
            message: format!(
                "panic in the harness or a driver: {}",
                panic_message(&*panic)
            ),
        }),
        Err(cause) => Some(Stop {
            outcome: Outcome::Aborted,
            message: format!("stopped by {cause}"),
        }),
    };
    let measurements = std::mem::take(&mut executor.measurements);
    let retried = std::mem::take(&mut executor.warnings);
    let monitors = std::mem::take(&mut executor.monitors);
    drop(executor);
    if stop.as_ref().is_none_or(|s| s.outcome != Outcome::Aborted) {
        sleep(SETTLE).await;
    }
    let trace = recovery_trace(&bus.recorded_since(0));
    let teardown = safe_state(ctx.rig, &mut rig, bus).await;
    for monitor in monitors {
        monitor.abort();
    }

    let (mut outcome, mut message) = match stop {
        Some(stop) => (stop.outcome, Some(stop.message)),
        None => (Outcome::Pass, None),
    };
    if let Err(e) = teardown
        && outcome == Outcome::Pass
    {
        outcome = Outcome::Error;
        message = Some(format!("safe state not reached: {e}"));
    }
    let mut warnings = retried;
    for m in &measurements {
        match m.verdict {
            Verdict::Fail if outcome == Outcome::Pass => {
                outcome = Outcome::Fail;
                message = Some(format!("measurement out of limits: {m}"));
            }
            Verdict::Warn => warnings.push(format!("measurement past its warning limit: {m}")),
            _ => {}
        }
    }

    let snapshot = if matches!(outcome, Outcome::Pass | Outcome::Fail) {
        // A failed run's trace is offered for review, never blessed.
        let mode = match (ctx.snapshot_mode, outcome) {
            (SnapshotMode::Accept, Outcome::Fail) => SnapshotMode::WritePending,
            (mode, _) => mode,
        };
        let variant = ctx.rig.trace_variant.as_deref();
        let path = snapshot::variant_path(&plan.path, &plan.id, variant, &trace, mode);
        match path.and_then(|path| snapshot::check(&path, &plan.path, &plan.id, &trace, mode)) {
            Ok(status) => status,
            Err(e) => {
                outcome = Outcome::Error;
                message = Some(format!("snapshot of {}: {e}", plan.id));
                SnapshotStatus::NotChecked
            }
        }
    } else {
        SnapshotStatus::NotChecked
    };
    match &snapshot {
        SnapshotStatus::Mismatch { diff } if outcome == Outcome::Pass => {
            outcome = Outcome::Fail;
            message = Some(format!(
                "recovery differs from the reviewed snapshot: {}",
                snapshot::first_difference(diff).unwrap_or("(whitespace)")
            ));
        }
        SnapshotStatus::Missing { .. } if outcome == Outcome::Pass => {
            outcome = Outcome::Fail;
            message = Some("no reviewed snapshot yet: run with --accept to create it".into());
        }
        _ => {}
    }

    let log = console_log(bus);
    let result = ScenarioResult {
        id: plan.id.clone(),
        failure: plan.failure.clone(),
        title: plan.title.clone(),
        path: plan.path.clone(),
        rig: ctx.rig.name.clone(),
        firmware: Firmware::of_rig(ctx.rig),
        outcome,
        message,
        warnings,
        measurements,
        snapshot,
        rig_secs: started.elapsed().as_secs_f64(),
        wall_secs: wall.elapsed().as_secs_f64(),
        seed: ctx.seed,
        rerun: ctx.rerun,
        log,
        quarantined: ctx.quarantined,
    };
    bus.emit(EventKind::ScenarioFinished(Box::new(result.clone())));
    result
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

fn console_log(bus: &EventBus) -> String {
    bus.recorded_since(0)
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ConsoleLine { device, line } => Some(format!(
                "{:>9.3} {device:>6} | {line}\n",
                e.at.as_secs_f64()
            )),
            _ => None,
        })
        .collect()
}

/// Reads a console until it closes, turning lines into events through the device's profile.
fn spawn_monitor(
    device: String,
    profile: Arc<Profile>,
    mut console: Box<dyn Console>,
    bus: EventBus,
    fault: FaultSlot,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut lines = 0usize;
        loop {
            match console.read_line().await {
                Ok(Some(line)) => {
                    // Secrets go before anything else sees the line.
                    let line = profile.redact(&line).into_owned();
                    let recognised = profile.recognise(&line);
                    lines += 1;
                    if lines <= RECORDED_LINES {
                        bus.emit(EventKind::ConsoleLine {
                            device: device.clone(),
                            line,
                        });
                    } else if lines == RECORDED_LINES + 1 {
                        bus.emit(EventKind::ConsoleLine {
                            device: device.clone(),
                            line: format!(
                                "[hil: console flood: lines after the first {RECORDED_LINES} of this scenario are not recorded; their events still are]"
                            ),
                        });
                    }
                    if let Some(r) = recognised {
                        bus.emit(EventKind::DeviceEvent {
                            device: device.clone(),
                            name: r.event,
                            fields: r.fields,
                            keep: r.keep,
                        });
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    *fault.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
                    return;
                }
            }
        }
    })
}

/// Applies the safe state, recording each action; the first failure is the result.
async fn safe_state(
    description: &hil_scenario::Rig,
    rig: &mut hil_rig::Rig,
    bus: &EventBus,
) -> Result<(), RigError> {
    let mut first_error = None;
    for done in crate::safe::apply(description, rig).await {
        match done.result {
            Ok(readback) => {
                bus.emit(EventKind::InstrumentAction {
                    instrument: done.instrument,
                    action: done.action,
                    readback,
                });
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

struct Executor<'a> {
    plan: &'a Plan,
    /// The rig file: each device's profile reads the consoles a step attaches (RTT).
    description: &'a hil_scenario::Rig,
    /// Tasks reading device consoles into the event stream.
    monitors: Vec<JoinHandle<()>>,
    bus: &'a EventBus,
    rig: &'a mut hil_rig::Rig,
    fault: FaultSlot,
    measurements: Vec<Measurement>,
    /// Instrument actions retried after a transient fault: the result's warnings.
    warnings: Vec<String>,
    /// How often an idempotent instrument action is retried before it is an ERROR.
    retries: u32,
    /// Where the next `wait_for` looks from: the start of the last step that acted on the rig
    /// (anything but `wait_for`), so it sees what that action caused even if it happened at once.
    /// The time is the action's start, which `measure` counts from.
    cursor: (usize, Duration),
    /// Per device, where the search for its next event starts after a `wait_for` matched one:
    /// one device's awaited events are in order, different devices' are independent (on a real
    /// rig the lock may well boot before the ring whose supply was set a moment later).
    seen: BTreeMap<String, usize>,
}

impl Executor<'_> {
    async fn run_steps(&mut self) -> Result<(), Stop> {
        for step in &self.plan.steps {
            let mark = self.bus.mark();
            let at = self
                .bus
                .emit(EventKind::StepStarted {
                    phase: step.phase,
                    index: step.index,
                    action: step.action.to_string(),
                    location: step.location.clone(),
                })
                .at;
            let mut result = self.step(step).await;
            if let Some(e) = self
                .fault
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
            {
                result = Err(e.into());
            }
            let (outcome, message) = match &result {
                Ok(()) => (Outcome::Pass, None),
                Err(stop) => (stop.outcome, Some(stop.message.clone())),
            };
            self.bus.emit(EventKind::StepFinished {
                phase: step.phase,
                index: step.index,
                outcome,
                message,
            });
            result.map_err(|stop| Stop {
                message: format!(
                    "{} step {} ({}): {}",
                    step.phase, step.index, step.location, stop.message
                ),
                ..stop
            })?;
            if !matches!(step.action, Action::WaitFor { .. }) {
                self.cursor = (mark, at);
                self.seen.clear();
            }
        }
        Ok(())
    }

    async fn step(&mut self, step: &PlannedStep) -> Result<(), Stop> {
        match &step.action {
            Action::Power {
                device,
                instrument,
                channel,
                setting,
                max_volts,
            } => {
                let psu =
                    self.rig.power.get_mut(instrument).ok_or_else(|| {
                        RigError::new(instrument, "power supply is not connected")
                    })?;
                let readback = retried(self.retries, &mut self.warnings, async || match setting {
                    PowerSetting::On(sp) => psu.apply(*channel, *sp).await,
                    PowerSetting::Off => psu.off(*channel).await,
                })
                .await?;
                let action = match setting {
                    PowerSetting::On(sp) => format!("ch{channel} {sp}"),
                    PowerSetting::Off => format!("ch{channel} off"),
                };
                self.bus.emit(EventKind::InstrumentAction {
                    instrument: instrument.clone(),
                    action,
                    readback: InstrumentReadback::Supply(readback),
                });
                // The last of three limit layers (plan, driver, readback): whatever was asked,
                // a device never stays above its limit. The safe state follows the ERROR.
                if readback.volts > max_volts + READBACK_TOLERANCE_VOLTS {
                    return Err(RigError::new(
                        instrument,
                        format!(
                            "ch{channel} reads back {:.3} V, over the {max_volts} V limit for {device}",
                            readback.volts
                        ),
                    )
                    .into());
                }
                let want_on = matches!(setting, PowerSetting::On(_));
                if readback.output_on != want_on {
                    return Err(RigError::new(
                        instrument,
                        format!(
                            "output reads back {} after it was switched {}",
                            on_off(readback.output_on),
                            on_off(want_on)
                        ),
                    )
                    .into());
                }
                Ok(())
            }
            Action::Pair {
                central,
                device,
                expect,
                within,
                attempts,
            } => {
                self.link(&PAIR, central, device, *expect, *within, *attempts)
                    .await
            }
            Action::Connect {
                central,
                device,
                expect,
                within,
                attempts,
            } => {
                self.link(&CONNECT, central, device, *expect, *within, *attempts)
                    .await
            }
            Action::Command {
                central,
                device,
                send,
                expect,
                within,
            } => {
                let outcome = timeout(
                    *within,
                    self.central(central)?.command(device, *send, *within),
                )
                .await;
                let failure = match outcome {
                    Ok(Ok(CommandOutcome::Done)) => None,
                    Ok(Ok(CommandOutcome::Failed(failure))) => Some(failure.to_string()),
                    Ok(Err(e)) => return Err(e.into()),
                    Err(_) => Some("step deadline".to_string()),
                };
                let name = if failure.is_some() {
                    "command_failed"
                } else {
                    "command_done"
                };
                let mut event = central_event(central, name, device, failure.as_deref());
                if let EventKind::DeviceEvent { fields, keep, .. } = &mut event {
                    fields.insert("command".into(), send.name().into());
                    keep.insert(0, "command".into());
                }
                self.bus.emit(event);
                match (expect, failure) {
                    (Expect::Ok, None) | (Expect::Fail, Some(_)) => Ok(()),
                    (Expect::Ok, Some(reason)) => Err(fail(format!(
                        "{device} did not carry out `{}` from {central}: {reason}",
                        send.name()
                    ))),
                    (Expect::Fail, None) => Err(fail(format!(
                        "{device} carried out `{}` from {central}, but the step expects it to be refused",
                        send.name()
                    ))),
                }
            }
            Action::App {
                central,
                install,
                restart,
            } => {
                if let Some(version) = install {
                    self.central(central)?.install_app(*version).await?;
                    self.bus.emit(EventKind::DeviceEvent {
                        device: central.clone(),
                        name: "app_installed".into(),
                        fields: BTreeMap::from([("version".into(), version.to_string())]),
                        keep: vec!["version".into()],
                    });
                }
                if *restart {
                    self.central(central)?.restart_app().await?;
                    self.bus.emit(EventKind::DeviceEvent {
                        device: central.clone(),
                        name: "app_restarted".into(),
                        fields: BTreeMap::new(),
                        keep: Vec::new(),
                    });
                }
                Ok(())
            }
            Action::Dfu {
                central,
                device,
                image,
                interrupt,
                expect,
                within,
            } => {
                self.dfu(central, device, image, interrupt.as_ref(), *expect, *within)
                    .await
            }
            Action::Gatt {
                central,
                device,
                request,
                expect,
                value,
                errors,
                within,
            } => {
                self.gatt(gatt::GattStep {
                    central,
                    device,
                    request,
                    expect: *expect,
                    value: value.as_deref(),
                    errors,
                    within: *within,
                })
                .await
            }
            Action::Flash { device, image } => {
                let probe = self.rig.probes.get_mut(device).ok_or_else(|| {
                    RigError::new(format!("probe on {device}"), "debug probe is not connected")
                })?;
                probe.flash(image).await?;
                self.bus.emit(EventKind::InstrumentAction {
                    instrument: format!("probe on {device}"),
                    action: format!(
                        "flash {} {} and reset",
                        image.profile.name, image.profile.version
                    ),
                    readback: InstrumentReadback::Flashed {
                        version: image.profile.version.clone(),
                    },
                });
                Ok(())
            }
            Action::Probe { device, op } => {
                if let Some(console) =
                    crate::probe_step::run(self.rig, self.bus, device, *op).await?
                {
                    let profile = self
                        .description
                        .devices
                        .get(device)
                        .map(|d| d.profile.clone());
                    let profile =
                        profile.ok_or_else(|| RigError::new(device, "not on this rig"))?;
                    self.monitors.push(spawn_monitor(
                        device.clone(),
                        profile,
                        console,
                        self.bus.clone(),
                        self.fault.clone(),
                    ));
                }
                Ok(())
            }
            Action::Scan {
                central,
                device,
                window,
                expect,
                measure,
            } => {
                let heard = self.central(central)?.scan(*window).await?;
                // By the rig's name when the central can tell, else by the advertised name.
                let seen = heard.iter().find(|a| {
                    a.device.as_deref() == Some(device.as_str())
                        || (a.device.is_none() && a.name == *device)
                });
                let event = if seen.is_some() { "heard" } else { "not_heard" };
                self.bus.emit(central_event(central, event, device, None));
                if let Some(advert) = seen {
                    self.record(measure, advert.rssi_dbm, Unit::Dbm);
                }
                match (seen.is_some(), expect) {
                    (true, Expect::Ok) | (false, Expect::Fail) => Ok(()),
                    (false, Expect::Ok) => Err(fail(format!(
                        "{central} did not hear {device} within {} (heard: {})",
                        humantime::format_duration(*window),
                        names_of(&heard)
                    ))),
                    (true, Expect::Fail) => Err(fail(format!(
                        "{central} heard {device}, but the step expects silence"
                    ))),
                }
            }
            Action::Soak {
                central,
                device,
                duration,
                measure,
            } => {
                let dropped = self.central(central)?.soak(device, *duration).await?;
                match dropped {
                    Ok(drops) => {
                        self.bus
                            .emit(central_event(central, "soaked", device, None));
                        self.record(measure, f64::from(drops), Unit::None);
                        Ok(())
                    }
                    Err(failure) => Err(fail(format!(
                        "{central} could not hold a connection to {device}: {failure}"
                    ))),
                }
            }
            Action::Incompatible {
                central,
                device,
                central_transports,
                device_transports,
            } => {
                let names = |ts: &[hil_scenario::Transport]| {
                    ts.iter().map(|t| t.name()).collect::<Vec<_>>().join("+")
                };
                self.bus.emit(EventKind::DeviceEvent {
                    device: central.clone(),
                    name: "incompatible".into(),
                    fields: BTreeMap::from([
                        ("device".into(), device.clone()),
                        ("speaks".into(), names(central_transports)),
                        ("device_speaks".into(), names(device_transports)),
                    ]),
                    keep: vec!["device".into(), "speaks".into(), "device_speaks".into()],
                });
                Ok(())
            }
            Action::StopAnswering { central, device } => {
                let deadline = DEFAULT_LINK_DEADLINE;
                let outcome = timeout(
                    deadline,
                    self.central(central)?.stop_answering(device, deadline),
                )
                .await;
                let reason = match outcome {
                    Ok(Ok(LinkOutcome::Bonded)) => None,
                    Ok(Ok(LinkOutcome::Failed(failure))) => Some(failure.to_string()),
                    Ok(Err(e)) => return Err(e.into()),
                    Err(_) => Some("step deadline".to_string()),
                };
                self.bus.emit(central_event(
                    central,
                    "went_silent",
                    device,
                    reason.as_deref(),
                ));
                Ok(())
            }
            Action::Forget { central, device } => {
                self.central(central)?.forget(device).await?;
                self.bus
                    .emit(central_event(central, "forgot", device, None));
                Ok(())
            }
            Action::Adapter { central, on } => {
                self.central(central)?.set_adapter_power(*on).await?;
                let name = if *on { "adapter_on" } else { "adapter_off" };
                self.bus.emit(EventKind::DeviceEvent {
                    device: central.clone(),
                    name: name.into(),
                    fields: BTreeMap::new(),
                    keep: Vec::new(),
                });
                Ok(())
            }
            Action::Press {
                device: _,
                instrument,
                channel,
                hold,
            } => {
                self.relay(instrument, *channel, true).await?;
                sleep(*hold).await;
                self.relay(instrument, *channel, false).await?;
                Ok(())
            }
            Action::Attenuate { instrument, db } => {
                let attenuator = self
                    .rig
                    .attenuators
                    .get_mut(instrument)
                    .ok_or_else(|| RigError::new(instrument, "attenuator is not connected"))?;
                let read = retried(self.retries, &mut self.warnings, async || {
                    attenuator.set(*db).await
                })
                .await?;
                self.bus.emit(EventKind::InstrumentAction {
                    instrument: instrument.clone(),
                    action: format!("attenuation {db} dB"),
                    readback: InstrumentReadback::Attenuation { db: read },
                });
                if (read - db).abs() > 0.125 {
                    return Err(RigError::new(
                        instrument,
                        format!("reads back {read} dB after being set to {db} dB"),
                    )
                    .into());
                }
                Ok(())
            }
            Action::WaitFor {
                device,
                event,
                with,
                within,
                measure,
            } => {
                let (mark, since) = self.cursor;
                let from = self.seen.get(device).copied().unwrap_or(mark);
                let wanted = |e: &crate::event::Event| match &e.kind {
                    EventKind::DeviceEvent {
                        device: d,
                        name,
                        fields,
                        ..
                    } => {
                        d == device
                            && name == event
                            && with.iter().all(|(k, v)| fields.get(k) == Some(v))
                    }
                    _ => false,
                };
                let deadline = Instant::now() + *within;
                match timeout_at(deadline, self.bus.wait_for(from, wanted)).await {
                    Ok((index, seen)) => {
                        self.seen.insert(device.clone(), index + 1);
                        if let Some(name) = measure {
                            self.measure(name, seen.at.saturating_sub(since));
                        }
                        Ok(())
                    }
                    Err(_) => Err(fail(format!(
                        "{device} did not report `{event}`{} within {}",
                        describe_fields(with),
                        humantime::format_duration(*within)
                    ))),
                }
            }
            Action::Wait(duration) => {
                sleep(*duration).await;
                Ok(())
            }
        }
    }

    /// `pair` or `connect`: attempts until the link is up, the app gives up, or the deadline.
    async fn link(
        &mut self,
        kind: &LinkKind,
        central_name: &str,
        device: &str,
        expect: Expect,
        within: Duration,
        attempts: u32,
    ) -> Result<(), Stop> {
        let central: &mut Box<dyn Central> = self
            .rig
            .centrals
            .get_mut(central_name)
            .ok_or_else(|| RigError::new(central_name, "central is not connected"))?;
        let started = Instant::now();
        let deadline = started + within;
        let mut last = String::from("no attempt fitted in the deadline");
        for attempt in 1..=attempts {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let outcome = if kind.reconnect {
                timeout(left, central.connect(device, left)).await
            } else {
                timeout(left, central.pair(device, left)).await
            };
            let reason = match outcome {
                Ok(Ok(LinkOutcome::Bonded)) => {
                    self.bus
                        .emit(central_event(central_name, kind.done, device, None));
                    self.measure(kind.measurement, started.elapsed());
                    return match expect {
                        Expect::Ok => Ok(()),
                        Expect::Fail => Err(fail(format!(
                            "{device} {} {central_name} on attempt {attempt}, but the step expects it to fail",
                            kind.done_phrase
                        ))),
                    };
                }
                Ok(Ok(LinkOutcome::Failed(failure))) => failure.to_string(),
                Ok(Err(e)) => return Err(e.into()),
                Err(_) => "step deadline".to_string(),
            };
            self.bus.emit(central_event(
                central_name,
                kind.failed,
                device,
                Some(&reason),
            ));
            last = reason;
            if attempt < attempts {
                sleep(RETRY_BACKOFF.min(deadline.saturating_duration_since(Instant::now()))).await;
            }
        }
        match expect {
            Expect::Fail => Ok(()),
            Expect::Ok => Err(fail(format!(
                "{device} did not {} {central_name} within {} ({attempts} attempt(s); last: {last})",
                kind.verb_phrase,
                humantime::format_duration(within)
            ))),
        }
    }

    async fn relay(&mut self, instrument: &str, channel: u8, closed: bool) -> Result<(), RigError> {
        let relay = self
            .rig
            .relays
            .get_mut(instrument)
            .ok_or_else(|| RigError::new(instrument, "relay board is not connected"))?;
        retried(self.retries, &mut self.warnings, async || {
            relay.set(channel, closed).await
        })
        .await?;
        self.bus.emit(EventKind::InstrumentAction {
            instrument: instrument.to_string(),
            action: format!("ch{channel} {}", if closed { "closed" } else { "open" }),
            readback: InstrumentReadback::Contact { closed },
        });
        Ok(())
    }

    fn central(&mut self, name: &str) -> Result<&mut Box<dyn Central>, RigError> {
        self.rig
            .centrals
            .get_mut(name)
            .ok_or_else(|| RigError::new(name, "central is not connected"))
    }

    fn measure(&mut self, name: &str, value: Duration) {
        self.record(name, value.as_secs_f64(), Unit::Seconds);
    }

    /// Records a measurement and checks it against the scenario's limits.
    fn record(&mut self, name: &str, value: f64, unit: Unit) {
        let limit = self.plan.limits.iter().find(|l| l.name == name);
        let verdict = match limit {
            None => Verdict::Recorded,
            Some(l)
                if l.max.is_some_and(|max| value > max) || l.min.is_some_and(|min| value < min) =>
            {
                Verdict::Fail
            }
            Some(l) if l.warn.is_some_and(|warn| value > warn) => Verdict::Warn,
            Some(_) => Verdict::Pass,
        };
        let measurement = Measurement {
            name: name.to_string(),
            value,
            unit,
            min: limit.and_then(|l| l.min),
            max: limit.and_then(|l| l.max),
            warn: limit.and_then(|l| l.warn),
            verdict,
        };
        self.bus.emit(EventKind::Measurement(measurement.clone()));
        self.measurements.push(measurement);
    }
}

/// How a link step talks about itself: event names, phrases for messages, its measurement.
struct LinkKind {
    /// Reconnect with the bond instead of pairing.
    reconnect: bool,
    done: &'static str,
    failed: &'static str,
    done_phrase: &'static str,
    verb_phrase: &'static str,
    measurement: &'static str,
}

const PAIR: LinkKind = LinkKind {
    reconnect: false,
    done: "paired",
    failed: "pair_failed",
    done_phrase: "paired with",
    verb_phrase: "pair with",
    measurement: "pairing_time",
};

const CONNECT: LinkKind = LinkKind {
    reconnect: true,
    done: "connected",
    failed: "connect_failed",
    done_phrase: "reconnected to",
    verb_phrase: "reconnect to",
    measurement: "connect_time",
};

/// What the central did or observed, as an event on its own lane.
/// What a scan heard, for a message.
fn names_of(heard: &[hil_rig::Advertisement]) -> String {
    if heard.is_empty() {
        return "nothing".into();
    }
    let names: Vec<String> = heard
        .iter()
        .map(|a| format!("{} at {:.0} dBm", a.name, a.rssi_dbm))
        .collect();
    names.join(", ")
}

fn central_event(central: &str, name: &str, device: &str, reason: Option<&str>) -> EventKind {
    let mut fields = BTreeMap::from([("device".to_string(), device.to_string())]);
    let mut keep = vec!["device".to_string()];
    if let Some(reason) = reason {
        fields.insert("reason".into(), reason.into());
        keep.push("reason".into());
    }
    EventKind::DeviceEvent {
        device: central.to_string(),
        name: name.to_string(),
        fields,
        keep,
    }
}

fn describe_fields(with: &BTreeMap<String, String>) -> String {
    with.iter().map(|(k, v)| format!(" {k}={v}")).collect()
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

/// Runs an idempotent instrument setting, retrying a wire fault up to `retries` times before it
/// becomes an ERROR: a flaky USB cable must not fail a scenario on its own. A refusal (the
/// instrument said no, a readback disagrees) is not retried: it would only say no again.
async fn retried<T>(
    retries: u32,
    warnings: &mut Vec<String>,
    mut setting: impl AsyncFnMut() -> Result<T, RigError>,
) -> Result<T, RigError> {
    let mut attempt = 0;
    loop {
        match setting().await {
            Err(e) if e.kind == RigErrorKind::Wire && attempt < retries => {
                attempt += 1;
                warnings.push(format!("retried after: {e}"));
                // Real time: it outlasts the driver's wire timeout, whatever the rig's scale.
                tokio::time::sleep(RETRY_AFTER * attempt).await;
            }
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An instrument setting that fails with `faults` in turn, then succeeds; counts its calls.
    async fn run(faults: &[RigError], retries: u32) -> (Result<u32, RigError>, u32, Vec<String>) {
        let mut calls = 0;
        let mut warnings = Vec::new();
        let result = retried(retries, &mut warnings, async || {
            calls += 1;
            faults
                .get(calls as usize - 1)
                .cloned()
                .map_or(Ok(calls), Err)
        })
        .await;
        (result, calls, warnings)
    }

    #[tokio::test(start_paused = true)]
    async fn a_wire_fault_is_retried_and_warned_about() {
        let (result, calls, warnings) = run(&[RigError::wire("rf", "timed out")], 2).await;
        assert_eq!(result.unwrap(), 2);
        assert_eq!(calls, 2);
        assert_eq!(warnings, ["retried after: rf: timed out"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_is_not_retried() {
        let refused = RigError::new("psu", "the instrument refused `VOLT 40`");
        let (result, calls, warnings) = run(&[refused], 2).await;
        assert_eq!(result.unwrap_err().kind, RigErrorKind::Refused);
        assert_eq!(calls, 1);
        assert!(warnings.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn wire_faults_past_the_retries_are_an_error() {
        let fault = RigError::wire("relay", "timed out");
        let (result, calls, warnings) = run(&[fault.clone(), fault.clone(), fault], 2).await;
        assert_eq!(result.unwrap_err().kind, RigErrorKind::Wire);
        assert_eq!(calls, 3);
        assert_eq!(warnings.len(), 2);
    }
}
