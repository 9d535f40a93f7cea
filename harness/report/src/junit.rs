//! JUnit XML: one test case per scenario, classed by rig; ERROR is `<error>`, FAIL and TIMEOUT
//! are `<failure>`, device logs go to system-out.

use std::time::Duration;

use hil_runner::{Outcome, ScenarioResult, SnapshotStatus};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

pub fn junit_xml(
    run_id: &str,
    results: &[ScenarioResult],
) -> Result<String, quick_junit::SerializeError> {
    let mut report = Report::new(format!("hil {run_id}"));
    let mut suites: Vec<TestSuite> = Vec::new();
    for result in results {
        let suite_name = format!("hil.{}", result.rig);
        let suite = match suites.iter_mut().find(|s| s.name.as_str() == suite_name) {
            Some(suite) => suite,
            None => {
                suites.push(TestSuite::new(suite_name));
                suites.last_mut().expect("just pushed")
            }
        };
        suite.add_test_case(test_case(result));
    }
    report.add_test_suites(suites);
    report.to_string()
}

fn test_case(result: &ScenarioResult) -> TestCase {
    let mut status = match result.outcome {
        Outcome::Pass => TestCaseStatus::success(),
        Outcome::Skipped => TestCaseStatus::skipped(),
        Outcome::Fail | Outcome::Timeout | Outcome::Incompatible => {
            TestCaseStatus::non_success(NonSuccessKind::Failure)
        }
        // Neither stops the device's fault: the rig failed, or the operator stopped the run.
        Outcome::Error | Outcome::Aborted => TestCaseStatus::non_success(NonSuccessKind::Error),
    };
    if let Some(message) = &result.message {
        status.set_message(message.as_str());
    }
    if !matches!(result.outcome, Outcome::Pass) {
        status.set_type(result.outcome.label());
    }
    if let SnapshotStatus::Mismatch { diff } = &result.snapshot {
        status.set_description(diff.as_str());
    }
    let mut case = TestCase::new(result.id.as_str(), status);
    case.set_classname(result.rig.as_str())
        .set_time(Duration::from_secs_f64(result.wall_secs))
        .set_system_out(result.log.as_str());
    case.add_property(("failure", result.failure.as_str()));
    case.add_property(("rig_secs", format!("{:.3}", result.rig_secs).as_str()));
    case.add_property(("rerun", result.rerun.as_str()));
    case
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(id: &str, outcome: Outcome, message: Option<&str>) -> ScenarioResult {
        ScenarioResult {
            id: id.into(),
            failure: "F01".into(),
            title: "t".into(),
            path: "scenarios/t.toml".into(),
            rig: "bench-a".into(),
            firmware: Default::default(),
            outcome,
            message: message.map(Into::into),
            warnings: vec![],
            measurements: vec![],
            snapshot: SnapshotStatus::NotChecked,
            rig_secs: 1.0,
            wall_secs: 0.5,
            seed: 1,
            rerun: "hil run t.toml".into(),
            log: "0.000 ring | <inf> bt: \"name\" & <b>\n".into(),
            quarantined: None,
        }
    }

    #[test]
    fn rig_faults_are_errors_and_device_faults_are_failures() {
        let xml = junit_xml(
            "r1",
            &[
                result("pass", Outcome::Pass, None),
                result("fail", Outcome::Fail, Some("ring did not pair")),
                result("error", Outcome::Error, Some("psu: port gone")),
                result("timeout", Outcome::Timeout, Some("timed out")),
                result("skip", Outcome::Skipped, Some("rig has no hub")),
            ],
        )
        .unwrap();
        assert!(
            xml.contains(
                r#"<testsuite name="hil.bench-a" tests="5" disabled="1" errors="1" failures="2""#
            ),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<failure message="ring did not pair" type="FAIL"/>"#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<error message="psu: port gone" type="ERROR"/>"#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<failure message="timed out" type="TIMEOUT"/>"#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<skipped message="rig has no hub" type="SKIPPED"/>"#),
            "{xml}"
        );
        // Device logs are untrusted text: escaped, never markup.
        assert!(
            xml.contains("&lt;inf&gt; bt: &quot;name&quot; &amp; &lt;b&gt;"),
            "{xml}"
        );
        assert!(!xml.contains("<b>"));
    }
}
