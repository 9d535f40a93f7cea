//! GATT steps through btleplug on a connected peripheral: discover, find the profile's
//! characteristic by service and UUID, read / write with response / subscribe and listen.
//!
//! bluetoothd answers a failed ATT operation with a D-Bus error (src/gatt-client.c,
//! `create_gatt_dbus_error`): a few codes get names of their own, the rest read
//! "Operation failed with ATT error: 0xNN". Both are turned back into the ATT code here.

use btleplug::api::{Characteristic as Found, Peripheral as _, WriteType};
use btleplug::platform::Peripheral;
use futures_util::StreamExt;
use hil_scenario::{Characteristic, GattRequest};

use super::bus::error_parts;
use super::failure::LinkError;
use crate::{GattOutcome, LinkFailure, listen};

const ATTRIBUTE_NOT_FOUND: u8 = 0x0A;
/// The central's supervision timeout: what a device that vanished mid-exchange looks like.
const CONNECTION_TIMEOUT: u8 = 0x08;

/// One GATT step's exchange on `peripheral`, which is connected. `Err` is the rig's fault.
pub async fn exchange(
    peripheral: &Peripheral,
    request: &GattRequest,
) -> Result<GattOutcome, LinkError> {
    let failed = |failure| Ok(GattOutcome::Failed(failure));
    peripheral
        .discover_services()
        .await
        .map_err(LinkError::from_btleplug)?;
    let found = peripheral.characteristics();
    let lookup = |c: &Characteristic| {
        found
            .iter()
            .find(|f| f.uuid.to_string() == c.uuid && f.service_uuid.to_string() == c.service)
            .cloned()
            .ok_or(LinkFailure::Att(ATTRIBUTE_NOT_FOUND))
    };
    let att = |error| att_failure(peripheral, error);
    match request {
        GattRequest::Read(c) => {
            let target = match lookup(c) {
                Ok(target) => target,
                Err(failure) => return failed(failure),
            };
            match peripheral.read(&target).await {
                Ok(value) => Ok(GattOutcome::Read(value)),
                Err(e) => att(e).await.map(GattOutcome::Failed),
            }
        }
        GattRequest::Write {
            characteristic,
            value,
        } => match write(peripheral, lookup(characteristic), value).await? {
            Ok(()) => Ok(GattOutcome::Written),
            Err(failure) => failed(failure),
        },
        GattRequest::Subscribe {
            characteristic,
            write: then_write,
            until,
            window,
        } => {
            let target = match lookup(characteristic) {
                Ok(target) => target,
                Err(failure) => return failed(failure),
            };
            // Listening starts before notifications are enabled, so none is missed.
            let notifications = peripheral
                .notifications()
                .await
                .map_err(LinkError::from_btleplug)?;
            if let Err(e) = peripheral.subscribe(&target).await {
                return att(e).await.map(GattOutcome::Failed);
            }
            if let Some((written, value)) = then_write
                && let Err(failure) = write(peripheral, lookup(written), value).await?
            {
                return failed(failure);
            }
            let values = notifications
                .filter_map(|n| std::future::ready((n.uuid == target.uuid).then_some(n.value)));
            let notified = listen(values, until.as_deref(), *window).await;
            // The connection closes next, which ends the subscription anyway.
            let _ = peripheral.unsubscribe(&target).await;
            Ok(GattOutcome::Notified(notified))
        }
    }
}

/// A write with response to a characteristic that was looked up.
async fn write(
    peripheral: &Peripheral,
    target: Result<Found, LinkFailure>,
    value: &[u8],
) -> Result<Result<(), LinkFailure>, LinkError> {
    let target = match target {
        Ok(target) => target,
        Err(failure) => return Ok(Err(failure)),
    };
    match peripheral
        .write(&target, value, WriteType::WithResponse)
        .await
    {
        Ok(()) => Ok(Ok(())),
        Err(e) => att_failure(peripheral, e).await.map(Err),
    }
}

/// The device's answer behind a failed operation: its ATT error, or the link it dropped; any
/// other failure is the rig's.
async fn att_failure(
    peripheral: &Peripheral,
    error: btleplug::Error,
) -> Result<LinkFailure, LinkError> {
    let error = LinkError::from_btleplug(error);
    if let LinkError::Bus(e) = &error
        && let Some(code) = att_code(error_parts(e))
    {
        return Ok(LinkFailure::Att(code));
    }
    match peripheral.is_connected().await {
        Ok(false) => Ok(LinkFailure::Disconnected(CONNECTION_TIMEOUT)),
        _ => Err(error),
    }
}

/// The ATT error code behind bluetoothd's D-Bus error for a failed GATT operation.
pub fn att_code((name, message): (&str, &str)) -> Option<u8> {
    let code = match (name.strip_prefix("org.bluez.Error.")?, message) {
        ("NotPermitted", "Read not permitted") => 0x02,
        ("NotPermitted", "Write not permitted") => 0x03,
        // Insufficient authentication, encryption or key size all read "Not paired".
        ("NotPermitted", "Not paired") => 0x05,
        ("NotSupported", _) => 0x06,
        ("InvalidArguments", "Invalid offset") => 0x07,
        ("NotAuthorized", _) => 0x08,
        ("InvalidArguments", "Invalid Length") => 0x0D,
        ("Failed", message) => {
            let hex = message.strip_prefix("Operation failed with ATT error: 0x")?;
            u8::from_str_radix(hex.get(..2)?, 16).ok()?
        }
        _ => return None,
    };
    Some(code)
}

#[cfg(test)]
mod tests {
    use super::att_code;

    #[test]
    fn bluetoothds_gatt_errors_give_back_their_att_codes() {
        let code = |name: &str, message: &str| att_code((name, message));
        assert_eq!(
            code(
                "org.bluez.Error.Failed",
                "Operation failed with ATT error: 0x80"
            ),
            Some(0x80)
        );
        // Newer BlueZ appends the error's name.
        assert_eq!(
            code(
                "org.bluez.Error.Failed",
                "Operation failed with ATT error: 0x13 (Value Not Allowed)"
            ),
            Some(0x13)
        );
        assert_eq!(
            code("org.bluez.Error.NotPermitted", "Write not permitted"),
            Some(0x03)
        );
        assert_eq!(
            code("org.bluez.Error.NotPermitted", "Not paired"),
            Some(0x05)
        );
        assert_eq!(
            code("org.bluez.Error.NotSupported", "Operation is not supported"),
            Some(0x06)
        );
        // Not an ATT error: the link, or BlueZ itself.
        assert_eq!(code("org.bluez.Error.Failed", "Operation failed"), None);
        assert_eq!(code("org.bluez.Error.Failed", "Not connected"), None);
        assert_eq!(code("org.freedesktop.DBus.Error.NoReply", "no reply"), None);
    }
}
