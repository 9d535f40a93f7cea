//! The relay board and RF attenuator drivers against emulators of their wire protocols on real
//! ptys. Timeouts are generous and nothing asserts on wall-clock time.

use std::time::{Duration, Instant};

use hil_rig::drivers::{
    AsyncAttenuator, AsyncRelay, Rcdat, SerialRelay, SerialTransport, open_attenuator, open_relay,
};
use hil_rig::{Attenuator, Relay, RigError};
use hil_scenario::{Driver, Instrument};
use hil_sim::emulators::{Emulator, Fault};

const PATIENCE: Duration = Duration::from_secs(10);

fn emulator(driver: Driver) -> Emulator {
    Emulator::start(driver)
        .expect("a pty")
        .expect("a real driver has an emulator")
}

fn instrument(driver: Driver, port: &str) -> Instrument {
    Instrument {
        name: "sw1".into(),
        driver,
        channels: 4,
        port: Some(port.into()),
        baud: None,
        emulated: false,
        safe_db: None,
        shell: None,
        reach: Default::default(),
    }
}

fn relay(driver: Driver, emulator: &Emulator) -> SerialRelay<SerialTransport> {
    let mut relay = open_relay(&instrument(driver, emulator.port())).expect("the pty opens");
    relay.set_timeout(PATIENCE);
    relay
}

fn attenuator(emulator: &Emulator) -> Rcdat<SerialTransport> {
    let instrument = instrument(Driver::MinicircuitsRcdat, emulator.port());
    let mut attenuator = open_attenuator(&instrument).expect("the pty opens");
    attenuator.set_timeout(PATIENCE);
    attenuator
}

/// The error, checked to name the instrument and the port.
fn expect_error<T: std::fmt::Debug>(result: Result<T, RigError>, port: &str) -> String {
    let e = result.expect_err("the driver reports a rig error");
    assert_eq!(e.instrument, "sw1");
    assert!(e.message.contains(port), "{e}");
    e.to_string()
}

/// Waits until `done` holds: a board that never answers can only be watched from its side.
fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn a_numato_contact_closes_opens_and_reads_back() {
    let emulator = emulator(Driver::NumatoRelay);
    let mut relay = relay(Driver::NumatoRelay, &emulator);

    relay.set(2, true).unwrap();
    assert_eq!(emulator.contact(2), Some(true));
    assert_eq!(emulator.contact(1), Some(false));
    assert_eq!(relay.read(2).unwrap(), Some(true));

    relay.set(2, false).unwrap();
    assert_eq!(emulator.contact(2), Some(false));
    assert_eq!(relay.version().unwrap().as_deref(), Some("00000008"));
}

#[test]
fn an_lcus_contact_follows_its_frames() {
    let emulator = emulator(Driver::LcusRelay);
    let mut relay = relay(Driver::LcusRelay, &emulator);

    relay.set(1, true).unwrap();
    assert!(eventually(|| emulator.contact(1) == Some(true)));
    relay.set(3, true).unwrap();
    relay.set(1, false).unwrap();
    assert!(eventually(|| emulator.contact(1) == Some(false)));
    assert_eq!(emulator.contact(3), Some(true));
    assert_eq!(relay.read(1).unwrap(), None, "an LCUS board cannot tell");
}

#[test]
fn a_relay_outside_the_rig_files_channels_is_refused() {
    let emulator = emulator(Driver::NumatoRelay);
    let message = expect_error(
        relay(Driver::NumatoRelay, &emulator).set(5, true),
        emulator.port(),
    );
    assert!(
        message.contains("no relay 5; this rig gives it 1..=4"),
        "{message}"
    );
}

#[test]
fn numato_line_noise_is_an_unreadable_answer() {
    let emulator = emulator(Driver::NumatoRelay);
    let mut relay = relay(Driver::NumatoRelay, &emulator);
    emulator.inject(Fault::Garbage);
    let message = expect_error(relay.set(1, true), emulator.port());
    assert!(
        message.contains("unreadable answer to `relay on 0`"),
        "{message}"
    );
    // The next exchange starts clean.
    relay.set(1, true).unwrap();
}

#[test]
fn a_silent_numato_times_out() {
    let emulator = emulator(Driver::NumatoRelay);
    let mut relay = relay(Driver::NumatoRelay, &emulator);
    relay.set_timeout(Duration::from_millis(500));
    emulator.inject(Fault::Late(Duration::from_secs(60)));
    let message = expect_error(relay.set(1, true), emulator.port());
    assert!(message.contains("timed out"), "{message}");
}

#[test]
fn a_vanished_relay_board_names_its_port() {
    for driver in [Driver::NumatoRelay, Driver::LcusRelay] {
        let emulator = emulator(driver);
        let mut relay = relay(driver, &emulator);
        emulator.inject(Fault::Vanish);
        // A silent board's first frame may still land in the pty's buffer; the next one cannot.
        let mut outcome = relay.set(1, true);
        assert!(eventually(|| {
            outcome = relay.set(1, true);
            outcome.is_err()
        }));
        let message = expect_error(outcome, emulator.port());
        assert!(
            message.contains("connection was lost"),
            "{driver:?}: {message}"
        );
    }
}

#[test]
fn an_rcdat_sets_and_reads_back_its_attenuation() {
    let emulator = emulator(Driver::MinicircuitsRcdat);
    let mut attenuator = attenuator(&emulator);

    assert_eq!(attenuator.identify().unwrap(), "RCDAT-6000-90");
    assert_eq!(attenuator.set(30.25).unwrap(), 30.25);
    assert_eq!(emulator.attenuation(), Some(30.25));
    assert_eq!(attenuator.set(90.0).unwrap(), 90.0);
    assert_eq!(attenuator.read().unwrap(), 90.0);
}

#[test]
fn an_attenuation_between_steps_or_out_of_range_never_reaches_the_wire() {
    let emulator = emulator(Driver::MinicircuitsRcdat);
    let mut attenuator = attenuator(&emulator);
    attenuator.set(10.0).unwrap();
    for db in [30.1, 90.25, -0.25] {
        let message = expect_error(attenuator.set(db), emulator.port());
        assert!(message.contains("0..=90 dB in 0.25 dB steps"), "{message}");
    }
    assert_eq!(emulator.attenuation(), Some(10.0));
}

#[test]
fn rcdat_noise_and_vanishing_are_rig_errors_naming_the_port() {
    let emulator = emulator(Driver::MinicircuitsRcdat);
    let mut attenuator = attenuator(&emulator);

    emulator.inject(Fault::Garbage);
    let message = expect_error(attenuator.set(20.0), emulator.port());
    assert!(
        message.contains("unreadable answer to `SETATT=20.00`"),
        "{message}"
    );

    emulator.inject(Fault::Vanish);
    let message = expect_error(attenuator.set(20.0), emulator.port());
    assert!(message.contains("connection was lost"), "{message}");
}

#[test]
fn a_silent_rcdat_times_out() {
    let emulator = emulator(Driver::MinicircuitsRcdat);
    let mut attenuator = attenuator(&emulator);
    attenuator.set_timeout(Duration::from_millis(500));
    emulator.inject(Fault::Late(Duration::from_secs(60)));
    let message = expect_error(attenuator.read(), emulator.port());
    assert!(message.contains("`ATT?`: no answer"), "{message}");
}

#[test]
fn a_relay_board_is_not_an_attenuator() {
    let emulator = emulator(Driver::NumatoRelay);
    let message = expect_error(attenuator(&emulator).identify(), emulator.port());
    assert!(message.contains("wrong model"), "{message}");
}

#[tokio::test]
async fn the_async_traits_drive_the_serial_drivers() {
    let numato = emulator(Driver::NumatoRelay);
    let rcdat = emulator(Driver::MinicircuitsRcdat);
    let mut relay: Box<dyn Relay> = Box::new(AsyncRelay::new(
        "sw1",
        self::relay(Driver::NumatoRelay, &numato),
    ));
    let mut attenuator: Box<dyn Attenuator> =
        Box::new(AsyncAttenuator::new("sw1", self::attenuator(&rcdat)));

    relay.set(4, true).await.unwrap();
    assert_eq!(numato.contact(4), Some(true));
    assert_eq!(attenuator.set(45.5).await.unwrap(), 45.5);
    assert_eq!(rcdat.attenuation(), Some(45.5));
}
