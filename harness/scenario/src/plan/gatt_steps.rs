//! GATT steps: `gatt_read`, `gatt_write`, `subscribe`. Characteristics and values are looked up
//! in the device's firmware profile (`[gatt]`), so a scenario names them and a typo, a write to a
//! read-only characteristic or a value the profile does not know is refused here, at its line.

use std::time::Duration;

use toml::Spanned;

use super::{Action, Findings, Scenario};
use crate::gatt::{Characteristic, GattOp, GattRequest};
use crate::profile::list_or_none;
use crate::rig_plan::{Device, Rig};
use crate::scenario::{Expect, GattReadStep, GattValue, GattWriteStep, SubscribeStep};

/// A GATT exchange: connect, encrypt, one or two ATT operations, disconnect.
const DEFAULT_GATT_WITHIN: Duration = Duration::from_secs(30);
/// How long a subscription listens when the step does not say.
const DEFAULT_LISTEN: Duration = Duration::from_secs(10);

impl Scenario {
    pub(super) fn gatt_read_step(
        &self,
        r: &GattReadStep,
        rig: &Rig,
        findings: &mut Findings<'_>,
    ) -> Option<Action> {
        let (central, device) = self.gatt_ends(&r.central, &r.device, rig, findings)?;
        let characteristic =
            self.characteristic(device, &r.characteristic, GattOp::Read, findings)?;
        let expect = match &r.expect {
            Some(value) => Some(self.value(&characteristic, value, findings)?),
            None => None,
        };
        Some(Action::Gatt {
            central,
            device: device.name.clone(),
            errors: device.profile.gatt.errors.clone(),
            request: Box::new(GattRequest::Read(characteristic)),
            expect: Expect::Ok,
            value: expect,
            within: r.within.map_or(DEFAULT_GATT_WITHIN, |w| w.0),
        })
    }

    pub(super) fn gatt_write_step(
        &self,
        w: &GattWriteStep,
        rig: &Rig,
        findings: &mut Findings<'_>,
    ) -> Option<Action> {
        let (central, device) = self.gatt_ends(&w.central, &w.device, rig, findings)?;
        let characteristic =
            self.characteristic(device, &w.characteristic, GattOp::Write, findings)?;
        let value = self.value(&characteristic, &w.value, findings)?;
        Some(Action::Gatt {
            central,
            device: device.name.clone(),
            errors: device.profile.gatt.errors.clone(),
            request: Box::new(GattRequest::Write {
                characteristic,
                value,
            }),
            expect: w.expect,
            value: None,
            within: w.within.map_or(DEFAULT_GATT_WITHIN, |w| w.0),
        })
    }

    pub(super) fn subscribe_step(
        &self,
        s: &SubscribeStep,
        rig: &Rig,
        findings: &mut Findings<'_>,
    ) -> Option<Action> {
        let (central, device) = self.gatt_ends(&s.central, &s.device, rig, findings)?;
        let characteristic =
            self.characteristic(device, &s.characteristic, GattOp::Subscribe, findings);
        let write = match &s.write {
            Some(GattValue {
                characteristic,
                value,
            }) => {
                let written = self.characteristic(device, characteristic, GattOp::Write, findings);
                let written = written?;
                let bytes = self.value(&written, value, findings)?;
                Some((written, bytes))
            }
            None => None,
        };
        let characteristic = characteristic?;
        let until = match &s.expect {
            Some(value) => Some(self.value(&characteristic, value, findings)?),
            None => None,
        };
        let window = s.within.map_or(DEFAULT_LISTEN, |w| w.0);
        Some(Action::Gatt {
            central,
            device: device.name.clone(),
            errors: device.profile.gatt.errors.clone(),
            value: until.clone(),
            request: Box::new(GattRequest::Subscribe {
                characteristic,
                write,
                until,
                window,
            }),
            expect: Expect::Ok,
            // Connecting and writing come on top of the listening window.
            within: window + DEFAULT_GATT_WITHIN,
        })
    }

    /// Both ends of a GATT step: a central and a BLE device.
    fn gatt_ends<'r>(
        &self,
        central: &Spanned<String>,
        device: &Spanned<String>,
        rig: &'r Rig,
        findings: &mut Findings<'_>,
    ) -> Option<(String, &'r Device)> {
        let central = self.central(central, rig, findings.problems);
        let device = self.device(device, rig, findings.problems)?;
        Some((central?.name, device))
    }

    /// The characteristic `name` of the device's firmware, if it allows `op`.
    fn characteristic(
        &self,
        device: &Device,
        name: &Spanned<String>,
        op: GattOp,
        findings: &mut Findings<'_>,
    ) -> Option<Characteristic> {
        let gatt = &device.profile.gatt;
        let Some(characteristic) = gatt.characteristics.get(name.get_ref()) else {
            let known: Vec<&str> = gatt.characteristics.keys().map(String::as_str).collect();
            findings.problems.push(self.source.error(
                name.span(),
                format!(
                    "`{}` ({} {}) has no GATT characteristic `{}`",
                    device.name,
                    device.profile.name,
                    device.profile.version,
                    name.get_ref()
                ),
                Some(format!(
                    "characteristics in {}: {}",
                    device.profile_path.display(),
                    list_or_none(&known)
                )),
            ));
            return None;
        };
        if let Some(why) = characteristic.refuses(op) {
            findings
                .problems
                .push(self.source.error(name.span(), format!("{op}: {why}"), None));
            return None;
        }
        Some(characteristic.clone())
    }

    /// The bytes of a value written in the scenario: a name the profile gives, or hex.
    fn value(
        &self,
        characteristic: &Characteristic,
        written: &Spanned<String>,
        findings: &mut Findings<'_>,
    ) -> Option<Vec<u8>> {
        let value = characteristic.value(written.get_ref());
        if value.is_none() {
            let names: Vec<&str> = characteristic.values.keys().map(String::as_str).collect();
            findings.problems.push(self.source.error(
                written.span(),
                format!(
                    "`{}` is not a value of characteristic `{}`",
                    written.get_ref(),
                    characteristic.name
                ),
                Some(format!(
                    "expected one of: {}, or hex bytes such as \"0x01\"",
                    list_or_none(&names)
                )),
            ));
        }
        value
    }
}
