//! Errors the library reports: bad input (exit 2), solver failures (exit 3), plan I/O.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem with one input file: which file, where in it, and what is wrong.
///
/// Rendered as `FILE:LINE: FIELD.PATH: message`, the shape compilers and linters use, so an
/// editor can jump to it and a person can fix it without reading the source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct InputError {
    /// The file the problem is in.
    pub file: PathBuf,
    /// 1-based line, where the format tells one (parse errors); `None` for semantic errors.
    pub line: Option<usize>,
    /// The field's path, such as `deployments[3].tensor_parallel[1]`; empty for the whole file.
    pub field: String,
    /// What is wrong, with the allowed values where there are few.
    pub message: String,
}

impl InputError {
    /// A semantic error at `field` of `file`.
    pub fn new(file: &Path, field: impl Into<String>, message: impl Into<String>) -> Self {
        InputError {
            file: file.to_path_buf(),
            line: None,
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error at a given line.
    pub fn at_line(mut self, line: Option<usize>) -> Self {
        self.line = line;
        self
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A name from the inputs that a target cannot carry: whose it is and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{owner} name '{name}' {why}")]
pub struct NameRefused {
    pub owner: Owner,
    /// The node's or deployment's position in its file (`nodes[i]`, `deployments[i]`).
    pub index: usize,
    pub name: String,
    pub why: String,
}

/// What a refused name names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Node,
    Deployment,
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Owner::Node => "node",
            Owner::Deployment => "deployment",
        })
    }
}

/// Everything that can stop fleetfit from producing a plan.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An input file is unreadable or wrong; the user must fix it (exit code 2).
    #[error(transparent)]
    Input(#[from] InputError),
    /// HiGHS failed or returned nothing usable (exit code 3).
    #[error("solver: {0}")]
    Solver(String),
    /// HiGHS stopped at its time limit before it found any feasible solution, and no start was
    /// given to fall back on (exit code 3).
    #[error("solver: HiGHS stopped before finding any feasible plan")]
    NoFeasibleYet,
    /// A search narrower than the rules (it says where) found no answer: none can be ruled out
    /// either (exit code 3).
    #[error(
        "solver: no answer was found, and the search was narrower than the rules ({}): none can be ruled out",
        .restrictions.join("; ")
    )]
    Unsettled { restrictions: Vec<String> },
    /// The solver's answer broke a placement rule: a bug in fleetfit, never output.
    #[error("internal error: the solver's plan failed fleetfit's own check:\n{0}")]
    InvalidPlan(String),
    /// A name from the inputs that an output cannot carry (exit code 2; `emit::names`).
    #[error(transparent)]
    Name(#[from] NameRefused),
    /// Writing an output file failed.
    /// (The OS error is in the message, not a `source`: the binary prints the chain, once.)
    #[error("cannot write {path}: {os_error}")]
    Write { path: PathBuf, os_error: std::io::Error },
}

/// Result alias for the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The checker's verdict on a plan about to be returned, one violation per line.
    pub fn invalid_plan(violations: &[crate::check::Violation]) -> Error {
        Error::InvalidPlan(
            violations
                .iter()
                .map(|v| format!("  {v}"))
                .collect::<Vec<_>>()
                .join("\n"),
        )
    }
}
