//! The model's columns in fleetfit's own order. A solution, a warm start and every index the
//! solver keeps (`x[p]` at `p`, `y[o]` at `x.len() + o`, then sharing, pool and chunk columns in
//! the order they are made) refer to this order; `highs_run` hands HiGHS the columns in it.
//! good_lp is the modelling layer only: its own numbering of variables is never relied on.

use std::collections::HashMap;

use good_lp::{ProblemVariables, Variable, variable};

/// One column: its good_lp handle and its index in fleetfit's order.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub var: Variable,
    pub index: usize,
}

/// Bounds and integrality of one column.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColumnDef {
    pub lower: f64,
    pub upper: f64,
    pub integer: bool,
}

/// Every column of a model, in the order made.
#[derive(Clone, Default)]
pub struct Columns {
    vars: ProblemVariables,
    defs: Vec<ColumnDef>,
    index: HashMap<Variable, usize>,
}

impl Columns {
    /// A new integer column in `0..=upper`.
    pub fn integer(&mut self, upper: u64) -> Column {
        self.add(ColumnDef {
            lower: 0.0,
            upper: upper as f64,
            integer: true,
        })
    }

    /// A new continuous column `>= 0`.
    pub fn non_negative(&mut self) -> Column {
        self.add(ColumnDef {
            lower: 0.0,
            upper: f64::INFINITY,
            integer: false,
        })
    }

    fn add(&mut self, def: ColumnDef) -> Column {
        let index = self.defs.len();
        let mut definition = variable().min(def.lower);
        if def.upper.is_finite() {
            definition = definition.max(def.upper);
        }
        if def.integer {
            definition = definition.integer();
        }
        let var = self.vars.add(definition);
        self.defs.push(def);
        self.index.insert(var, index);
        Column { var, index }
    }

    /// How many columns there are.
    pub fn len(&self) -> usize {
        self.defs.len()
    }

    /// Bounds and integrality, in column order.
    pub fn defs(&self) -> &[ColumnDef] {
        &self.defs
    }

    /// The column of a variable made here.
    pub fn index_of(&self, var: Variable) -> usize {
        self.index[&var]
    }
}
