//! GATT steps: one exchange with a bonded device (read, write, or subscribe and listen), traced
//! as the central saw it, values named as the firmware profile names them.

use std::collections::BTreeMap;
use std::time::Duration;

use hil_rig::time::timeout;
use hil_rig::{GattOutcome, LinkFailure};
use hil_scenario::{Characteristic, Expect, GattRequest};

use super::{Executor, Stop, fail};
use crate::event::EventKind;

/// One GATT step as planned.
pub(super) struct GattStep<'a> {
    pub central: &'a str,
    pub device: &'a str,
    pub request: &'a GattRequest,
    pub expect: Expect,
    pub value: Option<&'a [u8]>,
    pub errors: &'a BTreeMap<String, u8>,
    pub within: Duration,
}

impl Executor<'_> {
    pub(super) async fn gatt(&mut self, step: GattStep<'_>) -> Result<(), Stop> {
        let GattStep {
            central,
            device,
            request,
            ..
        } = step;
        let exchange = self.central(central)?.gatt(device, request, step.within);
        let outcome = match timeout(step.within, exchange).await {
            Ok(outcome) => outcome?,
            Err(_) => GattOutcome::Failed(LinkFailure::Disconnected(0x08)),
        };
        let characteristic = request.characteristic();
        let emit = |name: &str, c: &Characteristic, detail: Option<(&str, String)>| {
            self.bus
                .emit(gatt_event(central, name, device, &c.name, detail));
        };
        if let GattRequest::Subscribe { write, .. } = request {
            emit("subscribed", characteristic, None);
            if let (Some((written, value)), false) =
                (write, matches!(outcome, GattOutcome::Failed(_)))
            {
                emit(
                    "gatt_written",
                    written,
                    Some(("value", written.describe(value))),
                );
            }
        }
        let failure = match &outcome {
            GattOutcome::Read(value) => {
                emit(
                    "gatt_read",
                    characteristic,
                    Some(("value", characteristic.describe(value))),
                );
                None
            }
            GattOutcome::Written => {
                if let GattRequest::Write {
                    characteristic,
                    value,
                } = request
                {
                    emit(
                        "gatt_written",
                        characteristic,
                        Some(("value", characteristic.describe(value))),
                    );
                }
                None
            }
            GattOutcome::Notified(values) => {
                for value in values {
                    emit(
                        "notified",
                        characteristic,
                        Some(("value", characteristic.describe(value))),
                    );
                }
                None
            }
            GattOutcome::Failed(failure) => {
                let reason = describe_failure(failure, step.errors);
                let failed = match request {
                    GattRequest::Subscribe {
                        write: Some((written, _)),
                        ..
                    } => written,
                    _ => characteristic,
                };
                emit("gatt_failed", failed, Some(("reason", reason.clone())));
                Some(reason)
            }
        };
        let what = match request {
            GattRequest::Read(c) => format!("read {} {}", device, c.name),
            GattRequest::Write {
                characteristic,
                value,
            } => format!(
                "write {} = {} to {device}",
                characteristic.name,
                characteristic.describe(value)
            ),
            GattRequest::Subscribe { .. } => {
                format!("subscribe to {device} {}", characteristic.name)
            }
        };
        match (step.expect, failure) {
            (Expect::Fail, None) => {
                return Err(fail(format!(
                    "{central} could {what}, but the step expects it refused"
                )));
            }
            (Expect::Ok, Some(reason)) => {
                return Err(fail(format!("{central} could not {what}: {reason}")));
            }
            _ => {}
        }
        let Some(wanted) = step.value else {
            return Ok(());
        };
        let wanted_name = characteristic.describe(wanted);
        match &outcome {
            GattOutcome::Read(value) if value != wanted => Err(fail(format!(
                "{device} {} reads {}, expected {wanted_name}",
                characteristic.name,
                characteristic.describe(value)
            ))),
            GattOutcome::Notified(values) if !values.iter().any(|v| v == wanted) => {
                let heard: Vec<String> =
                    values.iter().map(|v| characteristic.describe(v)).collect();
                Err(fail(format!(
                    "{device} did not notify {} = {wanted_name} (notified: {})",
                    characteristic.name,
                    if heard.is_empty() {
                        "nothing".to_string()
                    } else {
                        heard.join(", ")
                    }
                )))
            }
            _ => Ok(()),
        }
    }
}

/// A failure in the firmware's words where its profile names the ATT error.
fn describe_failure(failure: &LinkFailure, errors: &BTreeMap<String, u8>) -> String {
    match failure {
        LinkFailure::Att(code) => match errors.iter().find(|(_, c)| *c == code) {
            Some((name, _)) => format!("att_0x{code:02X} ({name})"),
            None => failure.to_string(),
        },
        other => other.to_string(),
    }
}

fn gatt_event(
    central: &str,
    name: &str,
    device: &str,
    characteristic: &str,
    detail: Option<(&str, String)>,
) -> EventKind {
    let mut fields = BTreeMap::from([
        ("device".to_string(), device.to_string()),
        ("characteristic".to_string(), characteristic.to_string()),
    ]);
    let mut keep = vec!["device".to_string(), "characteristic".to_string()];
    if let Some((key, value)) = detail {
        fields.insert(key.to_string(), value);
        keep.push(key.to_string());
    }
    EventKind::DeviceEvent {
        device: central.to_string(),
        name: name.to_string(),
        fields,
        keep,
    }
}
