//! What BlueZ's D-Bus errors say about a link attempt: the device's business (a `LinkFailure`) or
//! the rig's (anything else).
//!
//! BlueZ reports LE connection failures as `org.bluez.Error.Failed` with a reason string
//! (src/error.h: `le-connection-key-missing`, …) and SMP failures as `AuthenticationFailed` etc.
//! without the SMP reason code, so an SMP failure reads as "unspecified reason" here.

use std::fmt;

use crate::LinkFailure;

/// A failed btleplug or BlueZ call.
#[derive(Debug)]
pub enum LinkError {
    Bus(dbus::Error),
    Other(String),
}

impl LinkError {
    /// Digs the D-Bus error out of btleplug's, when there is one.
    pub fn from_btleplug(error: btleplug::Error) -> Self {
        if let btleplug::Error::Other(inner) = &error
            && let Some(bluez_async::BluetoothError::DbusError(e)) =
                inner.downcast_ref::<bluez_async::BluetoothError>()
        {
            return LinkError::Bus(dbus::Error::new_custom(
                e.name().unwrap_or_default(),
                e.message().unwrap_or_default(),
            ));
        }
        LinkError::Other(error.to_string())
    }
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::Bus(e) => {
                let (name, message) = super::bus::error_parts(e);
                match super::bus::unusable(e) {
                    super::Unusable::Other(_) => write!(f, "{name}: {message}"),
                    known => known.fmt(f),
                }
            }
            LinkError::Other(message) => f.write_str(message),
        }
    }
}

/// The link failure a BlueZ error reports; `None` when the error is the rig's (BlueZ gone,
/// refused, confused).
pub fn link_failure(error: &LinkError) -> Option<LinkFailure> {
    let LinkError::Bus(error) = error else {
        return None;
    };
    let failure = match super::bus::error_parts(error) {
        ("org.bluez.Error.Failed", reason) => match reason {
            "le-connection-key-missing" => LinkFailure::Disconnected(0x06),
            "le-connection-timeout" => LinkFailure::Disconnected(0x08),
            "le-connection-abort-by-remote" => LinkFailure::Disconnected(0x13),
            "le-connection-link-layer-protocol-error" => LinkFailure::Disconnected(0x22),
            "le-connection-abort-by-local" => LinkFailure::Disconnected(0x3E),
            _ => return None,
        },
        // Newer BlueZ names a missing LE key with its own error.
        ("org.bluez.Error.LeConnectionKeyMissing", _) => LinkFailure::Disconnected(0x06),
        ("org.bluez.Error.AuthenticationFailed", _) => LinkFailure::Smp(0x08),
        ("org.bluez.Error.AuthenticationRejected", _) => LinkFailure::Smp(0x05),
        ("org.bluez.Error.AuthenticationCanceled", _) => LinkFailure::Disconnected(0x13),
        ("org.bluez.Error.AuthenticationTimeout", _) => LinkFailure::Disconnected(0x08),
        ("org.bluez.Error.ConnectionAttemptFailed", _) => LinkFailure::Disconnected(0x3E),
        ("org.bluez.Error.NotReady", _) => LinkFailure::AdapterOff,
        _ => return None,
    };
    Some(failure)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bluez(name: &str, message: &str) -> Option<LinkFailure> {
        link_failure(&LinkError::Bus(dbus::Error::new_custom(name, message)))
    }

    #[test]
    fn a_stale_key_is_pin_or_key_missing() {
        assert_eq!(
            bluez("org.bluez.Error.Failed", "le-connection-key-missing"),
            Some(LinkFailure::Disconnected(0x06))
        );
        assert_eq!(
            bluez("org.bluez.Error.Failed", "le-connection-abort-by-local"),
            Some(LinkFailure::Disconnected(0x3E))
        );
    }

    #[test]
    fn an_unpowered_adapter_is_adapter_off() {
        assert_eq!(
            bluez("org.bluez.Error.NotReady", "Resource Not Ready"),
            Some(LinkFailure::AdapterOff)
        );
    }

    #[test]
    fn bluez_gone_is_the_rigs_fault() {
        assert_eq!(
            bluez(
                "org.freedesktop.DBus.Error.ServiceUnknown",
                "The name org.bluez was not provided"
            ),
            None
        );
        assert_eq!(bluez("org.bluez.Error.Failed", "something new"), None);
    }
}
