//! The virtual phone's scan: what a scenario (or an emulated central built on it) hears.

use std::path::Path;
use std::time::Duration;

use hil_scenario::{Rig, Setpoint};

fn virtual_rig() -> Rig {
    Rig::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rigs/virtual.toml"))
        .expect("the virtual rig loads")
}

#[tokio::test(start_paused = true)]
async fn a_scan_hears_powered_devices_only_and_loses_them_behind_the_attenuator() {
    let mut rig = hil_sim::start(&virtual_rig(), 1);
    let psu = rig.power.get_mut("psu").unwrap();
    let ring = Setpoint {
        volts: 4.0,
        amps: 0.5,
        series_ohms: None,
    };
    psu.apply(1, ring).await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;

    let phone = rig.centrals.get_mut("phone").unwrap();
    let heard = phone.scan(Duration::from_secs(2)).await.unwrap();
    assert_eq!(
        heard.len(),
        1,
        "only the powered ring advertises: {heard:?}"
    );
    assert_eq!(heard[0].device.as_deref(), Some("ring"));
    assert!(
        heard[0].address.len() == 17 && heard[0].rssi_dbm < -30.0,
        "{heard:?}"
    );

    rig.attenuators
        .get_mut("atten")
        .unwrap()
        .set(90.0)
        .await
        .unwrap();
    let phone = rig.centrals.get_mut("phone").unwrap();
    let heard = phone.scan(Duration::from_secs(2)).await.unwrap();
    assert!(heard.is_empty(), "90 dB buries the ring: {heard:?}");

    phone.set_adapter_power(false).await.unwrap();
    let off = phone.scan(Duration::from_secs(2)).await.unwrap_err();
    assert!(off.message.contains("adapter is off"), "{off}");
}
