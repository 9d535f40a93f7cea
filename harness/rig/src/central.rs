use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use crate::RigError;

/// The phone (or a central dongle) that scans for, connects to and pairs with devices.
#[async_trait]
pub trait Central: Send {
    /// The central's own address, as devices see it.
    fn address(&self) -> &str;

    /// One pairing attempt with `device`: scan, connect, pair. `Err` only when the central itself
    /// failed; a device that does not pair is an `Ok(PairOutcome::Failed)`.
    async fn pair(&mut self, device: &str, deadline: Duration) -> Result<PairOutcome, RigError>;
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PairOutcome {
    Paired,
    Failed(PairFailure),
}

/// Why a pairing attempt failed, as the central observed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PairFailure {
    /// The device was not seen advertising.
    NotFound,
    /// The link dropped with an HCI disconnect reason (0x08 connection timeout, 0x3E failed to establish, …).
    Disconnected(u8),
    /// SMP pairing failed with a reason code (0x05 pairing not supported, 0x09 repeated attempts, …).
    Smp(u8),
    /// The device answered with an explicit application status, e.g. `low_battery`.
    Refused(String),
}

impl fmt::Display for PairFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PairFailure::NotFound => f.write_str("not_found"),
            PairFailure::Disconnected(code) => {
                write!(f, "hci_0x{code:02X} ({})", hci_reason(*code))
            }
            PairFailure::Smp(code) => write!(f, "smp_0x{code:02X}"),
            PairFailure::Refused(status) => write!(f, "refused ({status})"),
        }
    }
}

/// Names of the HCI disconnect reasons the catalog mentions.
fn hci_reason(code: u8) -> &'static str {
    match code {
        0x05 => "authentication failure",
        0x06 => "PIN or key missing",
        0x08 => "connection timeout",
        0x13 => "remote user terminated",
        0x22 => "LL response timeout",
        0x3D => "MIC failure",
        0x3E => "failed to establish",
        _ => "other",
    }
}
