//! The SMP emulator in front of the simulated ring, driven by the real client (mcumgr-toolkit,
//! through `hil_rig::drivers::SmpClient`) over a pty: silence without power, image state, an
//! upload that resumes from the device's offset, test, reset, confirm by the host, and MCUboot's
//! revert of a test image nobody confirmed.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hil_rig::drivers::{SmpClient, Unanswered, mcuboot};
use hil_rig::{Progress, RigError};
use hil_scenario::{Profile, Rig, Setpoint};
use hil_sim::emulators::{Emulator, Fault};
use mcumgr_toolkit::commands::image::ImageState;

fn repo() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn profile(path: &str) -> Arc<Profile> {
    Arc::new(Profile::load(&repo().join("fixtures/profiles").join(path)).unwrap())
}

/// The client on the blocking pool, as `SmpUpdater` runs it (so the paused clock waits for it).
struct Host(Arc<Mutex<SmpClient>>);

impl Host {
    async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut SmpClient) -> Result<Result<R, Unanswered>, RigError> + Send + 'static,
    ) -> Result<R, Unanswered> {
        let client = self.0.clone();
        tokio::task::spawn_blocking(move || f(&mut client.lock().unwrap()))
            .await
            .unwrap()
            .expect("the pty works")
    }

    async fn images(&self) -> Vec<ImageState> {
        self.call(SmpClient::images)
            .await
            .expect("the ring answers")
    }
}

async fn ring_on_smp() -> (hil_rig::Rig, Emulator, Host) {
    let rig = Rig::load(&repo().join("rigs/virtual-smp.toml")).unwrap();
    let mut world = hil_sim::start_world(&rig, 1);
    let emulator = world.smp.remove("ring").unwrap().unwrap();
    let client = SmpClient::new("ring", emulator.port(), 115_200);
    (world.rig, emulator, Host(Arc::new(Mutex::new(client))))
}

async fn power(world: &mut hil_rig::Rig, on: bool) {
    let psu = world.power.get_mut("psu").unwrap();
    if on {
        let ring = Setpoint {
            volts: 4.2,
            amps: 0.5,
            series_ohms: None,
        };
        psu.apply(1, ring).await.unwrap();
    } else {
        psu.off(1).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
}

/// Boot (1.2 s) and, after an update, MCUboot's swap (2 s).
const BOOT_AND_SWAP: Duration = Duration::from_secs(5);

fn no_progress() -> Progress {
    Box::new(|_, _| {})
}

#[tokio::test(start_paused = true)]
async fn the_ring_answers_only_while_powered() {
    let (mut world, _emulator, host) = ring_on_smp().await;
    assert!(matches!(
        host.call(SmpClient::hello).await,
        Err(Unanswered::Silent)
    ));
    power(&mut world, true).await;
    host.call(SmpClient::hello)
        .await
        .expect("a powered ring answers");
    let images = host.images().await;
    assert_eq!(images.len(), 1, "{images:?}");
    assert!(images[0].active && images[0].confirmed && images[0].version == "2.1.0");
    let running = mcuboot::inspect(&mcuboot::build(&profile("ring-fw-2.1.toml"))).unwrap();
    assert_eq!(images[0].hash.as_deref(), Some(running.hash.as_slice()));
    power(&mut world, false).await;
    assert!(matches!(
        host.call(SmpClient::images).await,
        Err(Unanswered::Silent)
    ));
}

#[tokio::test(start_paused = true)]
async fn an_upload_resumes_then_tests_and_reverts_unless_confirmed() {
    let (mut world, _emulator, host) = ring_on_smp().await;
    power(&mut world, true).await;
    // Built without the self-test confirmation: only the host can keep it.
    let image = Arc::new(mcuboot::build(&profile(
        "mutants/ring-no-image-confirm.toml",
    )));
    let hash = mcuboot::inspect(&image).unwrap().hash;

    let bytes = image.clone();
    let stopped = host
        .call(move |c| c.upload(&bytes, Some(45), &mut no_progress()))
        .await;
    assert!(matches!(stopped, Ok(Some(45))), "{stopped:?}");
    power(&mut world, false).await;
    power(&mut world, true).await;

    let first = Arc::new(Mutex::new(None));
    let seen = first.clone();
    let mut progress: Progress = Box::new(move |done, total| {
        seen.lock().unwrap().get_or_insert((done, total));
    });
    let bytes = image.clone();
    let done = host
        .call(move |c| c.upload(&bytes, None, &mut progress))
        .await;
    assert!(matches!(done, Ok(None)), "{done:?}");
    let (done, total) = first.lock().unwrap().unwrap();
    assert!(
        done * 100 / total >= 45,
        "resumed from the device's offset, not from 0: {done}/{total}"
    );
    let images = host.images().await;
    assert_eq!(images.len(), 2, "{images:?}");
    assert!(!images[1].pending && images[1].hash.as_deref() == Some(hash.as_slice()));

    host.call(move |c| c.set_state(&hash, false)).await.unwrap();
    assert!(host.images().await[1].pending);
    host.call(SmpClient::reset).await.unwrap();
    tokio::time::sleep(BOOT_AND_SWAP).await;
    let images = host.images().await;
    assert!(
        images[0].active && !images[0].confirmed,
        "a test image: {images:?}"
    );
    assert_eq!(images[1].version, "2.1.0");
    assert!(images[1].confirmed, "the old image is kept to revert to");

    // Nobody confirms it: MCUboot reverts at the next reset.
    host.call(SmpClient::reset).await.unwrap();
    tokio::time::sleep(BOOT_AND_SWAP).await;
    let images = host.images().await;
    assert_eq!(images.len(), 1, "{images:?}");
    assert_ne!(images[0].hash.as_deref(), Some(hash.as_slice()), "reverted");
}

#[tokio::test(start_paused = true)]
async fn a_swap_cut_by_a_power_loss_resumes_at_the_next_boot() {
    let (mut world, _emulator, host) = ring_on_smp().await;
    let mut console = world.consoles.remove("ring").unwrap();
    power(&mut world, true).await;
    let image = Arc::new(mcuboot::build(&profile("ring-fw-1.7.toml")));
    let hash = mcuboot::inspect(&image).unwrap().hash;
    let bytes = image.clone();
    host.call(move |c| c.upload(&bytes, None, &mut no_progress()))
        .await
        .unwrap();
    host.call(move |c| c.set_state(&hash, false)).await.unwrap();
    host.call(SmpClient::reset).await.unwrap();
    // 1.2 s of boot, then the swap: cut it half way.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    world.power.get_mut("psu").unwrap().off(1).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    power(&mut world, true).await;
    tokio::time::sleep(BOOT_AND_SWAP).await;

    let images = host.images().await;
    assert_eq!(images[0].version, "1.7.0", "the swap completed: {images:?}");
    assert!(
        images[0].active && images[0].confirmed,
        "and 1.7 confirmed itself: {images:?}"
    );
    let mut lines = Vec::new();
    while let Ok(Ok(Some(line))) =
        tokio::time::timeout(Duration::from_millis(10), console.read_line()).await
    {
        lines.push(line);
    }
    let at = |needle: &str| lines.iter().position(|l| l.contains(needle));
    let resumed = at("resuming an interrupted swap").expect("the swap resumed");
    let after = &lines[resumed..];
    let swapped = after.iter().position(|l| l.contains("swapped to 1.7.0"));
    let booted = after
        .iter()
        .position(|l| l.contains("reset reason: power_on"));
    assert!(swapped.is_some() && booted > swapped, "{lines:#?}");
    assert!(
        !lines[..resumed].iter().any(|l| l.contains("swapped to")),
        "{lines:#?}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_host_can_confirm_a_test_image() {
    let (mut world, _emulator, host) = ring_on_smp().await;
    power(&mut world, true).await;
    let image = Arc::new(mcuboot::build(&profile(
        "mutants/ring-no-image-confirm.toml",
    )));
    let hash = mcuboot::inspect(&image).unwrap().hash;
    let bytes = image.clone();
    host.call(move |c| c.upload(&bytes, None, &mut no_progress()))
        .await
        .unwrap();
    host.call(move |c| c.set_state(&hash, false)).await.unwrap();
    host.call(SmpClient::reset).await.unwrap();
    tokio::time::sleep(BOOT_AND_SWAP).await;

    host.call(move |c| c.set_state(&hash, true)).await.unwrap();
    let images = host.images().await;
    assert_eq!(
        images.len(),
        1,
        "confirmed: nothing left to revert to: {images:?}"
    );
    host.call(SmpClient::reset).await.unwrap();
    tokio::time::sleep(BOOT_AND_SWAP).await;
    let images = host.images().await;
    assert_eq!(
        images[0].hash.as_deref(),
        Some(hash.as_slice()),
        "still the new image"
    );
}

#[tokio::test(start_paused = true)]
async fn a_garbled_answer_is_retried_and_a_vanished_uart_is_the_rigs_fault() {
    let (mut world, emulator, host) = ring_on_smp().await;
    power(&mut world, true).await;
    let raw = |host: &Host| {
        let client = host.0.clone();
        tokio::task::spawn_blocking(move || client.lock().unwrap().hello())
    };

    // A frame that fails its decoding is dropped and the command sent again.
    emulator.inject(Fault::Garbage);
    let noisy = raw(&host).await.unwrap();
    assert!(matches!(noisy, Ok(Ok(()))), "{noisy:?}");

    emulator.inject(Fault::Vanish);
    let gone = raw(&host).await.unwrap();
    let error = gone.expect_err("a vanished UART is a rig fault");
    assert!(
        error.instrument.contains("ring") && error.instrument.contains("mcumgr"),
        "{error}"
    );
}
