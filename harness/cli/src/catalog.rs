//! Finding, loading and planning scenarios for a rig: everything before the first instrument
//! is touched. Any problem here is a configuration error (exit 2).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use hil_runner::{Outcome, Planned};
use hil_scenario::{ConfigError, ConfigErrors, PlanError, Profile, Rig, Scenario};

pub const DEFAULT_RIG: &str = "rigs/virtual.toml";
pub const DEFAULT_SCENARIOS: &str = "scenarios";

/// `--profile DEVICE=FILE`: run a device with another firmware profile than the rig's.
#[derive(Clone, Debug)]
pub struct ProfileOverride {
    pub device: String,
    pub path: PathBuf,
}

impl FromStr for ProfileOverride {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (device, path) = s
            .split_once('=')
            .ok_or_else(|| format!("expected DEVICE=PROFILE-FILE, got {s:?}"))?;
        Ok(Self {
            device: device.to_string(),
            path: PathBuf::from(path),
        })
    }
}

/// Why the catalog could not be loaded.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum CatalogError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Config(#[from] ConfigErrors),
    #[error("{0}")]
    Usage(String),
}

/// A rig and the scenarios selected to run on it.
pub struct Catalog {
    pub rig: Rig,
    pub scenarios: Vec<Scenario>,
}

impl Catalog {
    /// Loads the rig and the scenarios named by `targets`: files, directories, or ids / failure ids
    /// (`F01`, `F01-ring-low-battery`) looked up in `scenarios/`. No targets means all of `scenarios/`.
    pub fn load(
        rig: &Path,
        overrides: &[ProfileOverride],
        targets: &[String],
    ) -> Result<Catalog, CatalogError> {
        let mut errors = Vec::new();
        let rig = match load_rig(rig, overrides) {
            Ok(rig) => Some(rig),
            Err(CatalogError::Config(e)) => {
                errors.extend(e.errors);
                None
            }
            Err(usage) => return Err(usage),
        };

        let mut files = Vec::new();
        let mut selectors = Vec::new();
        for target in targets {
            let path = Path::new(target);
            if path.exists() {
                files.extend(expand(path).map_err(|e| CatalogError::Config(e.into()))?);
            } else {
                selectors.push(target.as_str());
            }
        }
        let browse = targets.is_empty() || !selectors.is_empty();
        let mut browsed = Vec::new();
        if browse {
            browsed =
                expand(Path::new(DEFAULT_SCENARIOS)).map_err(|e| CatalogError::Config(e.into()))?;
        }

        let mut scenarios = Vec::new();
        let mut loaded = HashSet::new();
        for (path, named) in files
            .iter()
            .map(|f| (f, true))
            .chain(browsed.iter().map(|f| (f, false)))
        {
            match Scenario::load(path) {
                Ok(s) => {
                    let wanted = named
                        || selectors.is_empty()
                        || selectors
                            .iter()
                            .any(|sel| s.id == *sel || s.failure == *sel);
                    // A file named and also found in the directory is one scenario.
                    if wanted && loaded.insert(s.path.clone()) {
                        scenarios.push(s);
                    }
                }
                Err(e) => errors.extend(e.errors),
            }
        }
        let mut first_with_id: HashMap<&str, &Path> = HashMap::new();
        for s in &scenarios {
            if let Some(first) = first_with_id.insert(&s.id, &s.path) {
                errors.push(s.id_error(
                    format!("duplicate scenario id `{}`", s.id),
                    Some(format!("also used by {}", first.display())),
                ));
            }
        }
        if !errors.is_empty() {
            return Err(ConfigErrors { errors }.into());
        }
        for selector in &selectors {
            if !scenarios
                .iter()
                .any(|s| s.id == *selector || s.failure == *selector)
            {
                return Err(CatalogError::Usage(format!(
                    "no scenario file or id matches `{selector}` (looked in {DEFAULT_SCENARIOS}/)"
                )));
            }
        }
        scenarios.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Catalog {
            rig: rig.expect("no errors means the rig loaded"),
            scenarios,
        })
    }

    /// Plans every selected scenario; all errors at once.
    pub fn plan(&self) -> Result<Vec<Planned>, ConfigErrors> {
        let mut errors = Vec::new();
        let mut planned = Vec::new();
        for scenario in &self.scenarios {
            match scenario.plan(&self.rig) {
                Ok(plan) => planned.push(Planned::Ready(Box::new(plan))),
                Err(PlanError::NotRunnable(reasons)) => {
                    planned.push(not_run(scenario, Outcome::Skipped, reasons))
                }
                Err(PlanError::Incompatible(reasons)) => {
                    planned.push(not_run(scenario, Outcome::Incompatible, reasons))
                }
                Err(PlanError::Invalid(e)) => errors.extend(e.errors),
            }
        }
        if errors.is_empty() {
            Ok(planned)
        } else {
            Err(ConfigErrors { errors })
        }
    }
}

fn not_run(scenario: &Scenario, outcome: Outcome, reasons: Vec<String>) -> Planned {
    Planned::NotRun {
        id: scenario.id.clone(),
        failure: scenario.failure.clone(),
        title: scenario.title.clone(),
        path: scenario.path.clone(),
        outcome,
        reasons,
    }
}

fn load_rig(path: &Path, overrides: &[ProfileOverride]) -> Result<Rig, CatalogError> {
    let mut rig = hil_rig::drivers::load_rig(path)?;
    for o in overrides {
        if !rig.devices.contains_key(&o.device) {
            return Err(CatalogError::Usage(format!(
                "--profile names device `{}`, which rig `{}` does not have (it has: {})",
                o.device,
                rig.name,
                rig.device_names().join(", ")
            )));
        }
        rig.pin_profile(&o.device, Arc::new(Profile::load(&o.path)?), o.path.clone());
    }
    Ok(rig)
}

/// A file as itself; a directory as its `*.toml` files, sorted.
fn expand(path: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let io = |source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(io)? {
        let file = entry.map_err(io)?.path();
        if file.extension().is_some_and(|e| e == "toml") && file.is_file() {
            files.push(file);
        }
    }
    files.sort();
    Ok(files)
}
