//! The engine profiles a plan can use: those shipped in the binary (`engines/*.yaml`) and those a
//! team passes (`--profiles FILE`, a deployments file's `profiles:`), which win for their engine.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use crate::domain::{Engine, EngineProfile};
use crate::error::InputError;
use crate::formats::profile_file::{self, ProfileFile};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/engine_files.rs"));
}

/// Profiles to choose from, user-given ones first.
#[derive(Debug, Clone)]
pub struct Profiles {
    user: Vec<Arc<EngineProfile>>,
    builtin: &'static [Arc<EngineProfile>],
}

impl Default for Profiles {
    fn default() -> Self {
        Profiles {
            user: Vec::new(),
            builtin: builtin(),
        }
    }
}

/// The profiles compiled into this binary.
pub fn builtin() -> &'static [Arc<EngineProfile>] {
    static BUILTIN: OnceLock<Vec<Arc<EngineProfile>>> = OnceLock::new();
    BUILTIN.get_or_init(|| {
        embedded::FILES
            .iter()
            .map(|&(name, text)| {
                let path = Path::new("engines").join(name);
                let file: ProfileFile = crate::formats::parse_text(&path, crate::formats::Syntax::Yaml, text)
                    .unwrap_or_else(|e| panic!("the embedded engine profile is invalid: {e}"));
                Arc::new(
                    profile_file::resolve(&path, &file)
                        .unwrap_or_else(|e| panic!("the embedded engine profile is invalid: {e}")),
                )
            })
            .collect()
    })
}

impl Profiles {
    /// The built-in profiles and those in `files`, later files winning over earlier ones.
    pub fn with_files(files: &[impl AsRef<Path>]) -> Result<Profiles, InputError> {
        let mut profiles = Profiles::default();
        for f in files {
            profiles.add(profile_file::load(f.as_ref())?);
        }
        Ok(profiles)
    }

    /// Adds a profile that wins over every one before it for its engine.
    pub fn add(&mut self, profile: EngineProfile) {
        self.user.insert(0, Arc::new(profile));
    }

    /// The profile for `engine`: the given `version` exactly, else the newest a team passed,
    /// else the newest built in.
    pub fn select(&self, engine: Engine, version: Option<&str>) -> Result<Arc<EngineProfile>, String> {
        let of_engine = |list: &[Arc<EngineProfile>]| -> Vec<Arc<EngineProfile>> {
            list.iter().filter(|p| p.engine == engine).cloned().collect()
        };
        let user = of_engine(&self.user);
        let builtin = of_engine(self.builtin);
        if let Some(v) = version {
            return user
                .iter()
                .chain(builtin.iter())
                .find(|p| p.version == v.trim())
                .cloned()
                .ok_or_else(|| {
                    let known: Vec<String> = user.iter().chain(builtin.iter()).map(|p| p.version.clone()).collect();
                    format!(
                        "no {engine} profile for version {v} (known: {}); measure one with `fleetfit calibrate`",
                        if known.is_empty() {
                            "none".into()
                        } else {
                            known.join(", ")
                        }
                    )
                });
        }
        // The first of the newest: a later file wins over an earlier one of the same version.
        let newest = |list: &[Arc<EngineProfile>]| {
            list.iter()
                .rev()
                .max_by(|a, b| version_order(&a.version, &b.version))
                .cloned()
        };
        newest(&user)
            .or_else(|| newest(&builtin))
            .ok_or_else(|| format!("no {engine} profile is known; measure one with `fleetfit calibrate`"))
    }
}

/// Orders versions such as `0.9` < `0.19` < `0.19.1` by their numeric parts.
fn version_order(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |v: &str| -> Vec<u64> { v.split(['.', '-', '+']).map(|p| p.parse().unwrap_or(0)).collect() };
    parts(a).cmp(&parts(b)).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_engine_has_a_builtin_profile() {
        let profiles = Profiles::default();
        for engine in Engine::ALL {
            assert!(profiles.select(engine, None).is_ok(), "{engine}");
        }
    }

    #[test]
    fn versions_compare_by_number() {
        assert!(version_order("0.9", "0.19").is_lt());
        assert!(version_order("0.19", "0.19.1").is_lt());
    }

    #[test]
    fn a_pinned_version_that_is_missing_is_named() {
        let e = Profiles::default().select(Engine::Vllm, Some("0.1")).unwrap_err();
        assert!(e.contains("no vllm profile for version 0.1"), "{e}");
    }
}
