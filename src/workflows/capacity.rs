//! `fleetfit capacity`: the purchase search of [`crate::solver::capacity`], with the reasons a
//! person reads (what no purchase can host, and why; why each deployment the plan leaves short is
//! short) worded from its facts.

use std::path::Path;
use std::time::Duration;

use crate::domain::{Fleet, Sku, Workload};
use crate::error::Result;
use crate::explain::RuleFacts;
use crate::solver::capacity::{Capacity, Short};

/// Buys nodes at least cost so that every required replica (priority at least `min_priority`,
/// or every one) is placed, then follows section 6 on the grown fleet; every unplaced entry
/// carries its reasons.
pub fn capacity(
    fleet: &Fleet,
    workload: &Workload,
    skus: &[Sku],
    skus_path: &Path,
    min_priority: Option<u64>,
    time_limit: Duration,
) -> Result<Capacity> {
    let mut c = crate::solver::capacity::capacity(fleet, workload, skus, skus_path, min_priority, time_limit)?;
    if let (Some(plan), Some(grown)) = (&mut c.plan, &c.grown) {
        crate::explain::annotate(grown, workload, plan, &|_| None);
    }
    let Some(all) = &c.all_bought else {
        return Ok(c);
    };
    let offered: std::collections::BTreeSet<&str> = skus.iter().map(|s| s.gpu_type.as_str()).collect();
    let offered: Vec<&str> = offered.into_iter().collect();
    for (u, why) in c.unplaced.iter_mut().zip(&c.short) {
        let Some(d) = workload.deployment(&u.deployment) else {
            continue;
        };
        u.reasons = match why {
            Short::NoHost => {
                let mut reasons = crate::explain::reasons(all, &workload.policy, d, 0);
                reasons.push(format!("the SKUs offer {}", offered.join(", ")));
                reasons
            }
            Short::AtMost | Short::Found => match crate::explain::rule_facts(all, &workload.policy, d, u.placed) {
                RuleFacts::Stop(facts) => facts,
                RuleFacts::AllowMore { .. } => vec![if *why == Short::AtMost {
                    format!(
                        "with every node of every SKU bought, at most {} of {} fit next to the other required deployments",
                        u.placed, u.requested
                    )
                } else {
                    format!(
                        "with every node of every SKU bought, the search placed {} of {} next to the other required deployments before the time limit",
                        u.placed, u.requested
                    )
                }],
            },
            Short::NotTogether => vec![
                "the required deployments do not all fit together, even with every node of every SKU bought".into(),
            ],
        };
    }
    Ok(c)
}
