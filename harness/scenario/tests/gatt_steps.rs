//! GATT steps (`gatt_read`, `gatt_write`, `subscribe`) planned from the device's firmware profile,
//! and the profile's `[gatt]` table: what a scenario may name is refused at `file:line:col`
//! before anything runs, and values reach the wire as the profile's bytes.

use std::path::{Path, PathBuf};

use hil_scenario::{Action, GattRequest, PlanError, Rig, Scenario};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn virtual_rig() -> Rig {
    Rig::load(&repo().join("rigs/virtual.toml")).expect("the built-in rig loads")
}

/// A scenario with these reproduce steps, on the lock.
fn scenario_text(steps: &str) -> String {
    format!(
        "id = \"T-gatt\"\nfailure = \"F05\"\ntitle = \"gatt\"\nneeds = [\"lock.power\", \"central\"]\n\n{steps}"
    )
}

/// Plans the steps on the virtual rig: the plan's GATT actions, or every error as
/// `file:line:col: message`.
fn plan(steps: &str) -> Result<Vec<Action>, Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "scenario.toml", &scenario_text(steps));
    let scenario = Scenario::load(&path).map_err(|e| located(&e))?;
    match scenario.plan(&virtual_rig()) {
        Ok(plan) => Ok(plan
            .steps
            .into_iter()
            .map(|s| s.action)
            .filter(|a| matches!(a, Action::Gatt { .. }))
            .collect()),
        Err(PlanError::Invalid(e)) => Err(located(&e)),
        Err(other) => panic!("expected a plan or located errors, got {other:?}"),
    }
}

fn located(errors: &hil_scenario::ConfigErrors) -> Vec<String> {
    errors
        .errors
        .iter()
        .map(|e| {
            let help = match e {
                hil_scenario::ConfigError::File(file) => file.help.clone().unwrap_or_default(),
                hil_scenario::ConfigError::Io { .. } => String::new(),
            };
            let text = format!("{e} (help: {help})");
            // Keep `line:col: message`, without the temporary directory.
            text.split_once("scenario.toml:")
                .map_or(text.clone(), |(_, rest)| rest.to_string())
        })
        .collect()
}

fn only_error(steps: &str) -> String {
    let errors = plan(steps).expect_err("the step is refused");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    errors[0].clone()
}

#[test]
fn values_are_the_profiles_bytes_and_hex_is_taken_as_is() {
    let actions = plan(
        r#"[[reproduce]]
gatt_write = { central = "phone", device = "lock", characteristic = "control", value = "unlock" }
[[reproduce]]
gatt_write = { central = "phone", device = "lock", characteristic = "control", value = "0x7f", expect = "fail" }
[[reproduce]]
subscribe = { central = "phone", device = "lock", characteristic = "status", write = { characteristic = "control", value = "lock" }, expect = "locked", within = "3s" }
[[reproduce]]
gatt_read = { central = "phone", device = "lock", characteristic = "status", expect = "unknown" }
"#,
    )
    .unwrap();
    let requests: Vec<(&GattRequest, Option<&Vec<u8>>)> = actions
        .iter()
        .map(|a| match a {
            Action::Gatt { request, value, .. } => (request.as_ref(), value.as_ref()),
            _ => unreachable!(),
        })
        .collect();
    // lock-fw 1.4: control unlock = 01, lock = 02; status locked = 00, unknown = ff.
    assert!(
        matches!(requests[0].0, GattRequest::Write { value, .. } if value == &[0x01]),
        "{requests:?}"
    );
    assert!(
        matches!(requests[1].0, GattRequest::Write { value, .. } if value == &[0x7f]),
        "{requests:?}"
    );
    match requests[2] {
        (
            GattRequest::Subscribe {
                characteristic,
                write: Some((written, bytes)),
                until,
                window,
            },
            Some(expected),
        ) => {
            assert_eq!(characteristic.name, "status");
            assert_eq!(characteristic.uuid, "8e7f0002-5a4b-4c3d-9e2f-1a2b3c4d5e6f");
            assert_eq!(
                (written.name.as_str(), bytes.as_slice()),
                ("control", &[0x02][..])
            );
            assert_eq!(until.as_deref(), Some(&[0x00][..]));
            assert_eq!(expected, &vec![0x00]);
            assert_eq!(window.as_secs(), 3);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(requests[3].1, Some(&vec![0xff]));
}

#[test]
fn an_unknown_characteristic_is_refused_with_the_profiles_list() {
    let error = only_error(
        r#"[[reproduce]]
gatt_read = { central = "phone", device = "lock", characteristic = "bolt" }
"#,
    );
    assert!(
        error.starts_with("7:68: `lock` (lock-fw 1.4.2) has no GATT characteristic `bolt`"),
        "{error}"
    );
    assert!(error.contains("control, status"), "{error}");
}

#[test]
fn a_write_to_a_read_only_characteristic_is_refused() {
    let error = only_error(
        r#"[[reproduce]]
gatt_write = { central = "phone", device = "lock", characteristic = "status", value = "locked" }
"#,
    );
    assert!(
        error.starts_with(
            "7:69: gatt_write: characteristic `status` cannot be written (its properties: read, notify)"
        ),
        "{error}"
    );
}

#[test]
fn subscribing_to_a_characteristic_that_does_not_notify_is_refused() {
    let error = only_error(
        r#"[[reproduce]]
subscribe = { central = "phone", device = "lock", characteristic = "control" }
"#,
    );
    assert!(
        error.starts_with("7:68: subscribe: characteristic `control` cannot notify"),
        "{error}"
    );
}

#[test]
fn a_value_the_profile_does_not_name_is_refused_with_its_names() {
    let error = only_error(
        r#"[[reproduce]]
gatt_write = { central = "phone", device = "lock", characteristic = "control", value = "open" }
"#,
    );
    assert!(
        error.starts_with("7:88: `open` is not a value of characteristic `control`"),
        "{error}"
    );
    assert!(error.contains("lock, unlock"), "{error}");
}

#[test]
fn a_device_without_a_gatt_table_has_no_characteristics() {
    let error = only_error(
        r#"[[reproduce]]
gatt_read = { central = "phone", device = "ring", characteristic = "status" }
"#,
    );
    assert!(
        error.contains("`ring` (ring-fw 2.1.0) has no GATT characteristic `status`"),
        "{error}"
    );
}

#[test]
fn a_central_without_a_gatt_client_skips_the_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let rig = std::fs::read_to_string(repo().join("rigs/virtual.toml"))
        .unwrap()
        .replace(
            "[instrument.phone]\ndriver = \"virtual-central\"",
            "[instrument.phone]\ndriver = \"bt-shell-dongle\"\nemulated = true\nprofile = \"PROFILES/zephyr-bt-shell.toml\"",
        )
        .replace("\"../fixtures/", &format!("\"{}/fixtures/", repo().display()))
        .replace("PROFILES/", &format!("{}/fixtures/profiles/", repo().display()));
    let rig = Rig::load(&write(dir.path(), "dongle.toml", &rig)).expect("the rig loads");
    let path = write(
        dir.path(),
        "scenario.toml",
        &scenario_text(
            "[[reproduce]]\ngatt_read = { central = \"phone\", device = \"lock\", characteristic = \"status\" }\n",
        ),
    );
    match Scenario::load(&path).unwrap().plan(&rig) {
        Err(PlanError::NotRunnable(reasons)) => assert!(
            reasons
                .iter()
                .any(|r| r.contains("`phone` (bt-shell-dongle) cannot do GATT")),
            "{reasons:?}"
        ),
        other => panic!("expected SKIPPED, got {other:?}"),
    }
}

/// A rig whose lock runs a profile with this `[gatt]` table; its errors as `file:line:col: …`.
fn profile_errors(gatt: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let rules = repo().join("fixtures/profiles/zephyr-ble.rules.toml");
    let profile = write(
        dir.path(),
        "lock-fw.toml",
        &format!(
            "name = \"lock-fw\"\nversion = \"9.0.0\"\ntransports = [\"ble\"]\nrules = {:?}\n\n{gatt}",
            rules.display().to_string()
        ),
    );
    let rig = write(
        dir.path(),
        "rig.toml",
        &format!(
            "name = \"bench\"\n[device.lock]\nprofile = {:?}\n",
            profile.display().to_string()
        ),
    );
    match Rig::load(&rig) {
        Ok(_) => Vec::new(),
        Err(e) => e
            .errors
            .iter()
            .map(|e| {
                let text = e.to_string();
                text.split_once("lock-fw.toml:")
                    .map_or(text.clone(), |(_, rest)| rest.to_string())
            })
            .collect(),
    }
}

#[test]
fn profile_gatt_tables_are_checked_where_they_are_written() {
    let good = "[gatt]\nservice = \"8e7f0001-5a4b-4c3d-9e2f-1a2b3c4d5e6f\"\nerrors = { not_owner = \"0x80\" }\n\n[gatt.characteristic.status]\nuuid = \"8e7f0002-5a4b-4c3d-9e2f-1a2b3c4d5e6f\"\nproperties = [\"read\"]\nvalues = { locked = \"00\" }\n";
    assert_eq!(profile_errors(good), Vec::<String>::new());

    let bad_uuid =
        profile_errors(&good.replace("8e7f0002-5a4b-4c3d-9e2f-1a2b3c4d5e6f", "8e7f0002"));
    assert!(
        bad_uuid.len() == 1 && bad_uuid[0].starts_with("11:8: `8e7f0002` is not a UUID"),
        "{bad_uuid:#?}"
    );
    let not_an_app_error = profile_errors(&good.replace("\"0x80\"", "\"0x13\""));
    assert!(
        not_an_app_error.len() == 1
            && not_an_app_error[0].starts_with("8:24: `0x13` is not an ATT application error code"),
        "{not_an_app_error:#?}"
    );
    let odd_hex = profile_errors(&good.replace("locked = \"00\"", "locked = \"0\""));
    assert!(
        odd_hex.len() == 1 && odd_hex[0].starts_with("13:21: `0` is not hex bytes"),
        "{odd_hex:#?}"
    );
    let orphan =
        profile_errors(&good.replace("service = \"8e7f0001-5a4b-4c3d-9e2f-1a2b3c4d5e6f\"\n", ""));
    assert!(
        orphan.len() == 1 && orphan[0].contains("characteristic `status` belongs to no service"),
        "{orphan:#?}"
    );
}
