//! Rig time: the clock scenarios, device models and the runner agree on.
//!
//! On the virtual rig it is tokio's paused clock, so minutes take milliseconds. On an emulated rig
//! (real drivers talking to emulators over ptys) the clock must be the wall clock, because real I/O
//! cannot run on a paused one; there the rig's `time_scale` speeds it up: at 10×, a 30 s wait takes
//! 3 s of wall time and reads as 30 s everywhere (events, measurements, device uptimes). At scale 1
//! every function here is exactly its `tokio::time` counterpart.
//!
//! Wire timeouts inside drivers and emulators are not rig time: a supply answers in milliseconds
//! whatever the scale, so they use real time.

use std::future::Future;
use std::ops::{Add, Sub};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use tokio::time::error::Elapsed;

/// The current scale, as f64 bits (1.0 until set).
static SCALE: AtomicU64 = AtomicU64::new(0x3FF0_0000_0000_0000);

/// Sets how many times faster than life rig time runs. Process-wide: one `hil run` drives one
/// rig. Values below 1 (or not finite) are refused by the rig loader, and read as 1 here.
pub fn set_scale(scale: f64) {
    let scale = if scale.is_finite() && scale >= 1.0 {
        scale
    } else {
        1.0
    };
    SCALE.store(scale.to_bits(), Ordering::Relaxed);
}

/// How many times faster than life rig time runs.
pub fn scale() -> f64 {
    f64::from_bits(SCALE.load(Ordering::Relaxed))
}

/// Rig time → the tokio time that passes for it.
fn to_tokio(rig: Duration) -> Duration {
    let scale = scale();
    if scale == 1.0 {
        rig
    } else {
        rig.div_f64(scale)
    }
}

/// Tokio time → rig time.
fn to_rig(tokio: Duration) -> Duration {
    let scale = scale();
    if scale == 1.0 {
        tokio
    } else {
        tokio.mul_f64(scale)
    }
}

/// An instant on the rig's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(tokio::time::Instant);

impl Instant {
    pub fn now() -> Self {
        Self(tokio::time::Instant::now())
    }

    /// Rig time since `earlier`, zero if `earlier` is later.
    pub fn saturating_duration_since(&self, earlier: Instant) -> Duration {
        to_rig(self.0.saturating_duration_since(earlier.0))
    }

    /// Rig time since this instant.
    pub fn elapsed(&self) -> Duration {
        Self::now().saturating_duration_since(*self)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;

    fn add(self, rig: Duration) -> Instant {
        Instant(self.0 + to_tokio(rig))
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;

    fn sub(self, rig: Duration) -> Instant {
        Instant(self.0 - to_tokio(rig))
    }
}

pub async fn sleep(rig: Duration) {
    tokio::time::sleep(to_tokio(rig)).await;
}

pub async fn sleep_until(deadline: Instant) {
    tokio::time::sleep_until(deadline.0).await;
}

pub async fn timeout<F: Future>(rig: Duration, future: F) -> Result<F::Output, Elapsed> {
    tokio::time::timeout(to_tokio(rig), future).await
}

pub async fn timeout_at<F: Future>(deadline: Instant, future: F) -> Result<F::Output, Elapsed> {
    tokio::time::timeout_at(deadline.0, future).await
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test: the scale is process-wide, so tests that set it must not run in parallel.
    #[tokio::test(start_paused = true)]
    async fn rig_time_runs_scale_times_faster_than_tokio_time() {
        let start = tokio::time::Instant::now();
        let rig_start = Instant::now();
        sleep(Duration::from_secs(30)).await;
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(30),
            "scale 1 is tokio time"
        );

        set_scale(10.0);
        let start = tokio::time::Instant::now();
        let rig_start_scaled = Instant::now();
        sleep(Duration::from_secs(30)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(3));
        assert_eq!(rig_start_scaled.elapsed(), Duration::from_secs(30));
        let deadline = Instant::now() + Duration::from_secs(20);
        assert!(
            timeout_at(deadline, sleep(Duration::from_secs(21)))
                .await
                .is_err()
        );
        assert_eq!(start.elapsed(), Duration::from_secs(5));
        assert!(
            timeout(Duration::from_secs(10), sleep(Duration::from_secs(9)))
                .await
                .is_ok()
        );

        set_scale(0.0);
        assert_eq!(scale(), 1.0, "a scale below 1 reads as 1");
        assert_eq!(
            rig_start.elapsed(),
            Duration::from_millis(30_000 + 3_000 + 2_000 + 900),
            "tokio time since, at scale 1"
        );
    }
}
