//! The model catalog shipped in the binary (`models/*.yaml`), and how names resolve to it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use crate::domain::ModelArch;
use crate::formats::model_file::ModelList;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/catalog_files.rs"));
}

/// One catalog model with the names it answers to.
#[derive(Debug, Clone)]
pub struct CatalogEntry {
    pub model: Arc<ModelArch>,
    /// The Hugging Face repository id, when known.
    pub repo: Option<String>,
    /// The family file it comes from, such as `llama.yaml`.
    pub family_file: &'static str,
}

/// All catalog models, by id, with a lookup table of every lowercased name.
#[derive(Debug)]
pub struct Catalog {
    entries: Vec<CatalogEntry>,
    by_name: BTreeMap<String, usize>,
}

impl Catalog {
    /// The catalog built into this binary.
    pub fn builtin() -> &'static Catalog {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        CATALOG.get_or_init(|| {
            Catalog::from_files(embedded::FILES).unwrap_or_else(|e| {
                // The files are checked by the test suite; reaching this is a build defect.
                panic!("the embedded model catalog is invalid: {e}")
            })
        })
    }

    /// Builds a catalog from family files, rejecting invalid entries and name clashes.
    pub fn from_files(files: &[(&'static str, &str)]) -> Result<Catalog, String> {
        let mut named = Vec::new();
        for &(file, text) in files {
            let path = Path::new("models").join(file);
            let list: ModelList =
                crate::formats::parse_text(&path, crate::formats::Syntax::Yaml, text).map_err(|e| e.to_string())?;
            for (i, entry) in list.models.iter().enumerate() {
                let model = entry
                    .resolve(&path, &format!("models[{i}]"))
                    .map_err(|e| e.to_string())?;
                let catalog_entry = CatalogEntry {
                    model: Arc::new(model),
                    repo: entry.repo.clone(),
                    family_file: file,
                };
                named.push((catalog_entry, entry.names()));
            }
        }
        named.sort_by(|a, b| a.0.model.id.cmp(&b.0.model.id));
        let mut by_name: BTreeMap<String, usize> = BTreeMap::new();
        for (i, (entry, names)) in named.iter().enumerate() {
            for name in names {
                if let Some(&other) = by_name.get(name) {
                    let other: &CatalogEntry = &named[other].0;
                    return Err(format!(
                        "models/{}: '{}' and '{}' both answer to the name '{name}'",
                        entry.family_file, entry.model.id, other.model.id
                    ));
                }
                by_name.insert(name.clone(), i);
            }
        }
        let entries = named.into_iter().map(|(e, _)| e).collect();
        Ok(Catalog { entries, by_name })
    }

    /// Every model, sorted by id.
    pub fn entries(&self) -> &[CatalogEntry] {
        &self.entries
    }

    /// The model a name refers to: its id, its Hugging Face repository id or an alias, in any
    /// case; an organisation prefix and an instruct/chat suffix are also understood.
    pub fn find(&self, name: &str) -> Option<&CatalogEntry> {
        candidates(name)
            .iter()
            .find_map(|c| self.by_name.get(c))
            .map(|&i| &self.entries[i])
    }

    /// Ids close to a name by edit distance, closest first, for "did you mean" hints: at most
    /// three, each at least 70% alike (normalised Levenshtein on the name without its
    /// organisation, against every id, repository and alias; a name that begins one counts as
    /// 90% alike); failing those, the closest ids of the same family (`llama-9`: llama ids).
    pub fn similar(&self, name: &str) -> Vec<&str> {
        let wanted = bare(&name.trim().to_ascii_lowercase()).to_string();
        // Every name a model answers to (ids, repositories, aliases), without organisation.
        let mut best: BTreeMap<usize, f64> = BTreeMap::new();
        for (known, &i) in &self.by_name {
            let known = bare(known);
            let score = if known.starts_with(&wanted) && !wanted.is_empty() {
                0.9
            } else {
                strsim::normalized_levenshtein(&wanted, known)
            };
            let slot = best.entry(i).or_insert(0.0);
            *slot = slot.max(score);
        }
        // Nothing that close: the closest of the same family (the name's letters before a digit).
        let stem: String = wanted.chars().take_while(|c| !c.is_ascii_digit()).collect();
        let floor = if best.values().any(|&s| s >= 0.7) { 0.7 } else { 0.0 };
        let mut scored: Vec<(f64, &str)> = best
            .into_iter()
            .map(|(i, score)| (score, self.entries[i].model.id.as_str()))
            .filter(|(score, id)| *score >= floor && (floor > 0.0 || (stem.len() >= 3 && id.starts_with(&stem))))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
        scored.into_iter().take(3).map(|(_, id)| id).collect()
    }
}

/// The name without an `organisation/` prefix.
fn bare(name: &str) -> &str {
    name.rsplit_once('/').map_or(name, |(_, n)| n)
}

/// Lowercased spellings to try, most literal first.
fn candidates(name: &str) -> Vec<String> {
    let lower = name.trim().to_ascii_lowercase();
    let short = bare(&lower).to_string();
    let mut out = vec![lower.clone(), short.clone()];
    for (suffix, replacement) in [("-instruct", ""), ("-it", ""), ("-chat-hf", "-hf"), ("-chat", "")] {
        if let Some(stem) = short.strip_suffix(suffix) {
            out.push(format!("{stem}{replacement}"));
        }
    }
    out
}
