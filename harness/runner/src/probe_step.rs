//! Debug-probe steps other than `flash`: reset, halt, erase, and attaching RTT as a console.

use hil_rig::{Console, RigError};
use hil_scenario::ProbeOp;

use crate::bus::EventBus;
use crate::event::{EventKind, InstrumentReadback, TargetState};

/// Runs `op` on `device`'s probe and reports it; `rtt` returns the console to monitor.
pub async fn run(
    rig: &mut hil_rig::Rig,
    bus: &EventBus,
    device: &str,
    op: ProbeOp,
) -> Result<Option<Box<dyn Console>>, RigError> {
    let instrument = format!("probe on {device}");
    let probe = rig
        .probes
        .get_mut(device)
        .ok_or_else(|| RigError::new(&instrument, "debug probe is not connected"))?;
    let (console, action, state) = match op {
        ProbeOp::Reset => {
            probe.reset().await?;
            (None, "reset".to_string(), TargetState::Running)
        }
        ProbeOp::Halt => {
            probe.halt().await?;
            (None, "halt".to_string(), TargetState::Halted)
        }
        ProbeOp::Erase => {
            probe.erase().await?;
            (None, "erase all flash".to_string(), TargetState::Erased)
        }
        ProbeOp::Rtt { within } => {
            let console = probe.rtt(within).await?;
            (
                Some(console),
                "attach RTT".to_string(),
                TargetState::Logging,
            )
        }
    };
    bus.emit(EventKind::InstrumentAction {
        instrument,
        action,
        readback: InstrumentReadback::Target { state },
    });
    Ok(console)
}
