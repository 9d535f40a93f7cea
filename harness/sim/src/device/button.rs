//! The device's button: a reboot, or a factory reset when held long enough (and, for the ring,
//! on the charger).

use hil_rig::time::Instant;

use super::{Device, ResetReason, SessionEnd};
use crate::hardware::Button;

/// The press in progress.
#[derive(Default)]
pub(super) struct Press {
    since: Option<Instant>,
    /// The reset cue (beep) has sounded for this press.
    pub(super) cued: bool,
}

impl Press {
    /// When to sound the reset cue, if this button has one and it is due.
    pub(super) fn cue_at(&self, button: &Button) -> Option<Instant> {
        let since = self.since.filter(|_| button.beeps && !self.cued)?;
        Some(since + button.factory_reset_hold)
    }
}

impl Device {
    pub(super) fn on_button(&mut self, press: &mut Press, closed: bool) -> Option<SessionEnd> {
        if closed {
            *press = Press {
                since: Some(Instant::now()),
                cued: false,
            };
            return None;
        }
        let held = press.since.take()?.elapsed();
        let button = self.hw.button;
        let in_window = held >= button.factory_reset_hold
            && button.reset_window_max.is_none_or(|max| held <= max);
        if in_window && (!button.reset_needs_charger || self.on_charger()) {
            self.factory_reset();
            return Some(self.power_down(SessionEnd::Reset(ResetReason::FactoryReset)));
        }
        if button.other_press_reboots {
            self.log("inf", "pm", "button reset");
            return Some(self.power_down(SessionEnd::Reset(ResetReason::Button)));
        }
        self.log(
            "inf",
            "ui",
            &format!("button released after {:.1} s: ignored", held.as_secs_f64()),
        );
        None
    }
}
