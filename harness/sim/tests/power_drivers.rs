//! The real supply drivers against emulators of their wire protocols on real ptys: no mocks, the
//! same bytes a bench would see. Timeouts are generous and nothing asserts on wall-clock time, so
//! a loaded machine slows these tests down without failing them.

use std::time::Duration;

use hil_rig::drivers::{AsyncPsu, KEITHLEY_2281S, Psu, SerialSupply, SerialTransport, open};
use hil_rig::{PowerSupply, RigError};
use hil_scenario::{Driver, Instrument, Setpoint};
use hil_sim::emulators::{Emulator, Fault};
use rstest::rstest;

fn emulator(driver: Driver) -> Emulator {
    Emulator::start(driver)
        .expect("a pty")
        .expect("a real driver has an emulator")
}

/// The driver for `driver`, connected to `emulator`'s pty the way a rig file would connect it,
/// with a timeout no loaded machine reaches by accident.
fn connect(driver: Driver, emulator: &Emulator) -> Box<dyn SerialSupply> {
    let mut psu = open(&Instrument {
        name: "psu1".into(),
        driver,
        channels: driver.default_channels(),
        port: Some(emulator.port().into()),
        baud: None,
        emulated: false,
        safe_db: None,
        shell: None,
        reach: Default::default(),
    })
    .expect("the pty opens");
    psu.set_timeout(Duration::from_secs(10));
    psu
}

fn setpoint(volts: f64, amps: f64) -> Setpoint {
    Setpoint {
        volts,
        amps,
        series_ohms: None,
    }
}

fn expect_error<T: std::fmt::Debug>(result: Result<T, RigError>) -> String {
    let e = result.expect_err("the driver reports a rig error");
    assert_eq!(e.instrument, "psu1");
    e.to_string()
}

#[rstest]
#[case::rigol(Driver::RigolDp800, "RIGOL TECHNOLOGIES,DP832")]
#[case::siglent(Driver::SiglentSpd3303x, "Siglent Technologies,SPD3303X")]
#[case::keysight(Driver::KeysightE36300, "Keysight Technologies,E36312A")]
#[case::korad(Driver::KoradKa3005p, "KORAD KA3005P")]
#[case::riden(Driver::RidenRd60xx, "Riden RD6006 (model 60062) SN:00012345 FW:1.41")]
#[case::keithley(Driver::Keithley2281s, "KEITHLEY INSTRUMENTS,MODEL 2281S-20-6")]
fn identifies_the_model_it_was_told_about(#[case] driver: Driver, #[case] identity: &str) {
    let emulator = emulator(driver);
    let answer = connect(driver, &emulator).identify().unwrap();
    assert!(answer.starts_with(identity), "{answer}");
}

#[rstest]
fn apply_programs_verifies_and_reads_the_output_back(
    #[values(
        Driver::RigolDp800,
        Driver::SiglentSpd3303x,
        Driver::KeysightE36300,
        Driver::KoradKa3005p,
        Driver::RidenRd60xx,
        Driver::Keithley2281s
    )]
    driver: Driver,
) {
    let emulator = emulator(driver);
    let mut psu = connect(driver, &emulator);

    let readback = psu.apply(1, setpoint(3.7, 0.5)).unwrap();

    assert!(readback.output_on);
    assert!((readback.volts - 3.7).abs() < 0.01, "{readback:?}");
    // The emulated load is 100 Ω: 37 mA, under the 0.5 A limit.
    assert!((readback.amps - 0.037).abs() < 0.002, "{readback:?}");
    let front_panel = emulator.channel(1).unwrap();
    assert!(front_panel.on);
    assert!((front_panel.volts - 3.7).abs() < 1e-9);
    assert!((front_panel.amps - 0.5).abs() < 1e-9);
}

#[rstest]
fn off_switches_the_output_off_and_reads_zero(
    #[values(
        Driver::RigolDp800,
        Driver::SiglentSpd3303x,
        Driver::KeysightE36300,
        Driver::KoradKa3005p,
        Driver::RidenRd60xx,
        Driver::Keithley2281s
    )]
    driver: Driver,
) {
    let emulator = emulator(driver);
    let mut psu = connect(driver, &emulator);
    psu.apply(1, setpoint(4.2, 0.2)).unwrap();

    let readback = psu.off(1).unwrap();

    assert!(!readback.output_on);
    assert_eq!(readback.volts, 0.0);
    assert!(!emulator.channel(1).unwrap().on);
}

#[rstest]
#[case::rigol(Driver::RigolDp800, "Data out of range")]
#[case::siglent(Driver::SiglentSpd3303x, "Data out of range")]
#[case::keysight(Driver::KeysightE36300, "Data out of range")]
// Korad and Riden have no error queue and ignore the value: the readback catches it.
#[case::korad(Driver::KoradKa3005p, "voltage reads back 0.00 after setting 99.00")]
#[case::riden(Driver::RidenRd60xx, "voltage reads back 5 after setting 99")]
#[case::keithley(Driver::Keithley2281s, "Data out of range")]
fn a_refused_setting_is_a_rig_error_with_the_instruments_words(
    #[case] driver: Driver,
    #[case] words: &str,
) {
    let emulator = emulator(driver);
    let mut psu = connect(driver, &emulator);

    let message = expect_error(psu.apply(1, setpoint(99.0, 0.1)));

    assert!(message.contains(words), "{message}");
    assert!(!emulator.channel(1).unwrap().on, "output stayed off");
}

#[rstest]
#[case::rigol(Driver::RigolDp800, "*IDN?")]
#[case::siglent(Driver::SiglentSpd3303x, "*IDN?")]
#[case::keysight(Driver::KeysightE36300, "*IDN?")]
#[case::korad(Driver::KoradKa3005p, "*IDN?")]
#[case::riden(Driver::RidenRd60xx, "reading register 0")]
#[case::keithley(Driver::Keithley2281s, "*IDN?")]
fn an_answer_later_than_the_timeout_is_a_rig_error(#[case] driver: Driver, #[case] asked: &str) {
    let emulator = emulator(driver);
    let mut psu = connect(driver, &emulator);
    psu.identify().expect("answers without the fault");
    psu.set_timeout(Duration::from_millis(500));

    emulator.inject(Fault::Late(Duration::from_secs(30)));
    let message = expect_error(psu.identify());

    assert!(message.contains("timed out"), "{message}");
    assert!(message.contains(asked), "{message}");
}

#[test]
fn an_emulator_answers_after_the_latency_it_is_given() {
    let emulator = emulator(Driver::RigolDp800);
    let mut psu = connect(Driver::RigolDp800, &emulator);
    psu.set_timeout(Duration::from_millis(300));

    emulator.set_latency(Duration::from_secs(1));
    let message = expect_error(psu.identify());
    assert!(message.contains("timed out"), "{message}");

    // Lets the late answer arrive; the driver drops it before its next command.
    std::thread::sleep(Duration::from_secs(1));
    emulator.set_latency(Duration::ZERO);
    psu.set_timeout(Duration::from_secs(10));
    psu.identify()
        .expect("answers at once once the latency is zero");
}

#[rstest]
fn line_noise_is_a_clear_error(
    #[values(
        Driver::RigolDp800,
        Driver::SiglentSpd3303x,
        Driver::KeysightE36300,
        Driver::KoradKa3005p,
        Driver::RidenRd60xx,
        Driver::Keithley2281s
    )]
    driver: Driver,
) {
    let emulator = emulator(driver);
    let mut psu = connect(driver, &emulator);

    emulator.inject(Fault::Garbage);
    let message = expect_error(psu.read_output(1));

    assert!(message.contains("unreadable answer"), "{message}");
}

#[rstest]
fn an_instrument_vanishing_mid_command_names_the_port(
    #[values(
        Driver::RigolDp800,
        Driver::SiglentSpd3303x,
        Driver::KeysightE36300,
        Driver::KoradKa3005p,
        Driver::RidenRd60xx,
        Driver::Keithley2281s
    )]
    driver: Driver,
) {
    let emulator = emulator(driver);
    let mut psu = connect(driver, &emulator);

    emulator.inject(Fault::Vanish);
    let message = expect_error(psu.apply(1, setpoint(3.3, 0.1)));

    assert!(message.contains(emulator.port()), "{message}");
    assert!(message.contains("connection was lost"), "{message}");
}

#[rstest]
#[case::rigol(Driver::RigolDp800, Some(4.25))]
#[case::siglent(Driver::SiglentSpd3303x, None)]
#[case::keysight(Driver::KeysightE36300, Some(4.25))]
#[case::korad(Driver::KoradKa3005p, None)]
#[case::riden(Driver::RidenRd60xx, Some(4.25))]
#[case::keithley(Driver::Keithley2281s, Some(4.25))]
fn ovp_is_programmed_where_the_model_has_it(#[case] driver: Driver, #[case] ovp: Option<f64>) {
    let emulator = emulator(driver);
    let mut psu = connect(driver, &emulator);
    let factory_ovp = emulator.channel(1).unwrap().ovp;

    let level = psu.protect(1, 4.25).unwrap();

    assert_eq!(level, ovp);
    assert_eq!(emulator.channel(1).unwrap().ovp, ovp.or(factory_ovp));
}

#[rstest]
#[case::keysight_for_a_rigol(
    Driver::KeysightE36300,
    Driver::RigolDp800,
    "Keysight Technologies,E36312A"
)]
#[case::supply_for_a_simulator(
    Driver::RigolDp800,
    Driver::Keithley2281s,
    "RIGOL TECHNOLOGIES,DP832"
)]
#[case::simulator_for_a_supply(Driver::Keithley2281s, Driver::KeysightE36300, "MODEL 2281S-20-6")]
fn a_different_model_on_the_port_is_named(
    #[case] on_the_port: Driver,
    #[case] in_the_rig: Driver,
    #[case] identity: &str,
) {
    let emulator = emulator(on_the_port);
    let mut psu = connect(in_the_rig, &emulator);

    let message = expect_error(psu.identify());

    assert!(message.contains("wrong model"), "{message}");
    assert!(message.contains(identity), "{message}");
}

fn cell(volts: f64, amps: f64, series_ohms: f64) -> Setpoint {
    Setpoint {
        series_ohms: Some(series_ohms),
        ..setpoint(volts, amps)
    }
}

#[test]
fn a_battery_simulators_series_resistance_shows_under_load() {
    let emulator = emulator(Driver::Keithley2281s);
    let mut sim = connect(Driver::Keithley2281s, &emulator);

    let readback = sim.apply(1, cell(3.62, 0.5, 1.0)).unwrap();

    let front_panel = emulator.channel(1).unwrap();
    assert!(
        (front_panel.series_ohms - 1.0).abs() < 1e-6,
        "{front_panel:?}"
    );
    assert!((front_panel.volts - 3.62).abs() < 1e-9, "{front_panel:?}");
    // 3.62 V behind 1 Ω into the emulated 100 Ω load: 35.8 mA, and 36 mV lost inside the cell.
    let amps = 3.62 / 101.0;
    assert!((readback.amps - amps).abs() < 0.001, "{readback:?}");
    assert!(
        (readback.volts - (3.62 - amps)).abs() < 0.002,
        "{readback:?}"
    );
    assert!(readback.volts < 3.59, "the drop is visible: {readback:?}");
}

#[test]
fn a_battery_simulator_changes_its_cell_while_on() {
    let emulator = emulator(Driver::Keithley2281s);
    let mut sim = connect(Driver::Keithley2281s, &emulator);
    sim.apply(1, cell(3.62, 0.5, 1.0)).unwrap();

    // A fresh cell: the simulator refuses a new resistance while simulating, so the driver
    // pauses the output for it.
    let readback = sim.apply(1, cell(4.2, 0.5, 0.15)).unwrap();
    // The same cell again: nothing to pause for.
    let again = sim.apply(1, cell(4.2, 0.5, 0.15)).unwrap();

    assert!(readback.output_on && again.output_on);
    let front_panel = emulator.channel(1).unwrap();
    assert!(
        (front_panel.series_ohms - 0.15).abs() < 1e-6,
        "{front_panel:?}"
    );
    assert!((front_panel.volts - 4.2).abs() < 1e-9, "{front_panel:?}");
    // No series resistance asked for: a stiff source, the model's own resistance cancelled.
    sim.apply(1, setpoint(4.2, 0.5)).unwrap();
    assert!(emulator.channel(1).unwrap().series_ohms.abs() < 1e-6);
}

#[test]
fn a_battery_simulator_outside_its_simulator_function_refuses_its_commands() {
    let emulator = emulator(Driver::Keithley2281s);
    let transport = SerialTransport::open(emulator.port(), 9600).unwrap();
    let mut raw = Psu::new("psu1", &KEITHLEY_2281S, transport, 1);
    raw.set_timeout(Duration::from_secs(10));

    // Fresh from power-up it is a plain supply: what the driver sends first matters.
    let message = expect_error(raw.write(":BATT:SIM:VOC 3.7"));

    assert!(message.contains("Settings conflict"), "{message}");
    assert_eq!(emulator.channel(1).unwrap().volts, 0.0);
    raw.write(":ENTR:FUNC SIM").unwrap();
    raw.write(":BATT:SIM:VOC 3.7").unwrap();
    assert_eq!(emulator.channel(1).unwrap().volts, 3.7);
}

#[test]
fn a_korad_answering_a_scpi_driver_is_quoted() {
    let emulator = emulator(Driver::KoradKa3005p);
    let mut psu = connect(Driver::RigolDp800, &emulator);
    psu.set_timeout(Duration::from_secs(1));

    let message = expect_error(psu.identify());

    // Korad ends its answers with nothing, so the SCPI driver waits for a line end in vain.
    assert!(message.contains("timed out"), "{message}");
    assert!(message.contains("KORAD KA3005P"), "{message}");
}

#[rstest]
#[case::rigol(Driver::RigolDp800)]
#[case::korad(Driver::KoradKa3005p)]
#[case::riden(Driver::RidenRd60xx)]
#[case::keithley(Driver::Keithley2281s)]
#[tokio::test]
async fn the_power_supply_trait_drives_a_real_driver(#[case] driver: Driver) {
    let emulator = emulator(driver);
    let mut psu: Box<dyn PowerSupply> = Box::new(AsyncPsu::new("psu1", connect(driver, &emulator)));

    let on = psu.apply(1, setpoint(3.0, 0.1)).await.unwrap();
    let off = psu.off(1).await.unwrap();

    assert!(on.output_on && (on.volts - 3.0).abs() < 0.01, "{on:?}");
    assert!(!off.output_on, "{off:?}");
}
