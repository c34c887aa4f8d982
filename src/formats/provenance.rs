//! Plan provenance: fleetfit's version and a SHA-256 digest of each input file's bytes, stamped
//! on the plans commands write and compared by `check` and `replan`.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::domain::Provenance;
use crate::error::InputError;

/// `sha256:` and the hex digest of `bytes`.
pub fn digest_bytes(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The digest of a file's bytes, naming the file when it cannot be read.
pub fn digest_file(path: &Path) -> Result<String, InputError> {
    super::read_bytes(path).map(|bytes| digest_bytes(&bytes))
}

/// The provenance of a plan made by this fleetfit from `inputs` (role and digest).
pub fn stamp(inputs: impl IntoIterator<Item = (&'static str, String)>) -> Provenance {
    Provenance {
        fleetfit: env!("CARGO_PKG_VERSION").to_string(),
        inputs: inputs
            .into_iter()
            .map(|(role, digest)| (role.to_string(), digest))
            .collect(),
    }
}

/// Reads and digests each input file.
pub fn stamp_files(inputs: &[(&'static str, &Path)]) -> Result<Provenance, InputError> {
    let mut digests = Vec::with_capacity(inputs.len());
    for &(role, path) in inputs {
        digests.push((role, digest_file(path)?));
    }
    Ok(stamp(digests))
}

/// Sentences for each way `provenance` disagrees with the files at hand (role, path): another
/// digest for a role both know, or another fleetfit version. `subject` names the plan in them
/// ("the plan", "the running plan"). Roles the plan does not record are not compared; a plan
/// without provenance gives no sentence.
pub fn differences(
    subject: &str,
    provenance: Option<&Provenance>,
    inputs: &[(&'static str, &Path)],
) -> Result<Vec<String>, InputError> {
    let Some(provenance) = provenance else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let recorded: &BTreeMap<String, String> = &provenance.inputs;
    for &(role, path) in inputs {
        let Some(then) = recorded.get(role) else { continue };
        let now = digest_file(path)?;
        if *then != now {
            out.push(format!(
                "{subject} was made from another {role} file than {} (it records {}, the file is {})",
                path.display(),
                short(then),
                short(&now)
            ));
        }
    }
    let version = env!("CARGO_PKG_VERSION");
    if provenance.fleetfit != version {
        out.push(format!(
            "{subject} was made by fleetfit {}; this is fleetfit {version}",
            provenance.fleetfit
        ));
    }
    Ok(out)
}

/// A digest cut to its first 12 hex digits, as git shortens hashes.
fn short(digest: &str) -> &str {
    let end = digest.find(':').map_or(0, |i| i + 1) + 12;
    &digest[..end.min(digest.len())]
}
