//! Small text helpers the human-readable reports share.

use std::time::Duration;

use hil_runner::ScenarioResult;

/// `m:ss.mmm`, or `h:mm:ss` past an hour.
pub fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}.{:03}", s / 60, s % 60, d.subsec_millis())
    }
}

/// `lock 1.4.0, ring 1.9.0`: which build each device ran.
pub fn firmware_versions(result: &ScenarioResult) -> String {
    result
        .firmware
        .iter()
        .map(|(device, fw)| format!("{device} {}", fw.version))
        .collect::<Vec<_>>()
        .join(", ")
}
