//! A bare-metal change set: `apply.sh`, which runs each step's script on its node over
//! `$FLEETFIT_SSH` (default `ssh`; `local` runs it here), and one script per step and node.
//!
//! A started server takes the lowest port from 8000 up that no server running on its node at
//! that step holds (the running servers' ports come from their command lines where imported,
//! else from the current plan's own launch scripts), so a start never fails on a taken port.

use std::collections::{BTreeMap, BTreeSet};

use super::{Step, preamble, title};
use crate::domain::Plan;
use crate::emit::launch::{self, FIRST_SERVER_PORT, Line};
use crate::emit::server::Runtime;
use crate::emit::shell::quote;
use crate::emit::{Emit, File, names};

/// Functions every step script carries.
const HELPERS: &str = r#"set -eu
timeout="${FLEETFIT_STEP_TIMEOUT:-1800}"
# Waits until process $1 has exited.
until_gone() {
    waited=0
    while kill -0 "$1" 2>/dev/null; do
        if [ "$waited" -ge "$timeout" ]; then echo "process $1 still runs after $timeout s" >&2; return 1; fi
        sleep 2
        waited=$((waited + 2))
    done
}
# Stops process $1 after checking that its command line still holds $2 (a PID may be reused).
stop_pid() {
    if ! ps -o args= -p "$1" | grep -qF -- "$2"; then echo "process $1 no longer runs $2" >&2; return 1; fi
    kill -TERM "$1"
    until_gone "$1"
}
# Stops the server whose command line holds both $1 (its served name) and "--port $2".
stop_server() {
    pid=$(ps -eo pid=,args= | awk -v name="$1" -v port="--port $2 " 'index($0 " ", port) && index($0, name) { print $1; exit }')
    if [ -z "$pid" ]; then echo "no server of $1 on port $2" >&2; return 1; fi
    kill -TERM "$pid"
    until_gone "$pid"
}
# Waits until http://127.0.0.1:$1/health answers.
until_healthy() {
    waited=0
    until curl -sf "http://127.0.0.1:$1/health" >/dev/null; do
        if [ "$waited" -ge "$timeout" ]; then echo "the server on port $1 is not healthy after $timeout s" >&2; return 1; fi
        sleep 5
        waited=$((waited + 5))
    done
}
"#;

pub fn files(
    before: &Emit<'_>,
    after: &Emit<'_>,
    current: &Plan,
    steps: &[Step<'_>],
    runtime: Option<Runtime>,
) -> Vec<File> {
    let runtime_of =
        |e: &Emit<'_>, r: usize| runtime.unwrap_or_else(|| Runtime::of(e.deployment(&e.plan.replicas[r]).engine));
    let shares =
        after.shares_by(|r| runtime.unwrap_or_else(|| Runtime::of(after.deployment(r).engine)) == Runtime::Sglang);
    // Ports held per node: (port, servers on it).
    let old_ports = launch::ports(before);
    let port_of_current = |i: usize, known: Option<usize>| -> Option<u64> {
        let r = &current.replicas[i];
        current
            .running
            .iter()
            .find(|x| x.deployment == r.deployment && x.replica == r.replica)
            .and_then(|x| x.port)
            .or_else(|| known.map(|k| old_ports[k]))
    };
    let mut held: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    let known_of = super::known(current, before.workload, before.fleet);
    for (i, r) in current.replicas.iter().enumerate() {
        if let Some(port) = port_of_current(i, known_of[i]) {
            held.entry(r.stages[0].node.clone()).or_default().insert(port);
        }
    }
    let mut out = Vec::new();
    let mut body = String::new();
    for (cluster, s) in steps.iter().enumerate() {
        let n = s.step.step;
        body += &format!("if step {n} {}; then\n", quote(&title(s.step)));
        if s.step.action == "start" {
            let r = &after.plan.replicas[s.replica];
            let head = r.stages[0].node.clone();
            let taken = held.entry(head.clone()).or_default();
            let port = (FIRST_SERVER_PORT..).find(|p| !taken.contains(p)).expect("a free port");
            taken.insert(port);
            // Clusters of change sets count from 101, apart from the full scripts' 1 up.
            let lines = launch::replica_lines(
                after,
                s.replica,
                runtime_of(after, s.replica),
                &shares[s.replica],
                port,
                101 + cluster as u64,
            );
            let parts = lines.len();
            for (k, (node, lines)) in lines.into_iter().enumerate() {
                let file = format!(
                    "{n:03}-start-{}-{}-{node}.sh",
                    names::label_value(&r.deployment),
                    r.replica
                );
                let mut text = format!("#!/bin/sh\n# fleetfit change set: {}\n{HELPERS}", title(s.step));
                for line in &lines {
                    text += &render_detached(line, &r.deployment, r.replica);
                    text.push('\n');
                }
                if k + 1 == parts {
                    text += &format!("until_healthy {port}\n");
                }
                body += &format!("    on {} {}\n", quote(node), quote(&file));
                out.push(File { name: file, text });
            }
        } else if let Some(node) = &s.gone_node {
            body += &format!(
                "    echo {} >&2\n",
                quote(&format!(
                    "node {node} is not in the fleet any more: nothing to stop there"
                ))
            );
        } else {
            let r = &current.replicas[s.replica];
            let head = r.stages[0].node.clone();
            let port = port_of_current(s.replica, s.known);
            let command = match (s.running.and_then(|x| x.pid), port) {
                (Some(pid), _) => format!("stop_pid {pid} {}", quote(&model_text(before, r))),
                (None, Some(port)) => format!(
                    "stop_server {} {port}",
                    quote(&format!("--served-model-name {}", r.deployment))
                ),
                (None, None) => format!(
                    "echo {} >&2\nexit 1",
                    quote(&format!(
                        "no process or port is known for {}#{}; stop it by hand, then resume with --from {}",
                        r.deployment,
                        r.replica,
                        n + 1
                    ))
                ),
            };
            if let Some(port) = port {
                held.entry(head.clone()).or_default().remove(&port);
            }
            let file = format!(
                "{n:03}-stop-{}-{}-{head}.sh",
                names::label_value(&r.deployment),
                r.replica
            );
            let text = format!(
                "#!/bin/sh\n# fleetfit change set: {}\n{HELPERS}{command}\n",
                title(s.step)
            );
            body += &format!("    on {} {}\n", quote(&head), quote(&file));
            out.push(File { name: file, text });
        }
        body += "fi\n";
    }
    let extra = r#"# Runs a step's script on its node: over $FLEETFIT_SSH (default ssh), or here when it is `local`.
on() {
    if [ "${FLEETFIT_SSH:-ssh}" = local ]; then
        sh "$2"
    else
        # shellcheck disable=SC2086 # FLEETFIT_SSH may carry options (ssh -i key).
        ${FLEETFIT_SSH:-ssh} "$1" sh -s < "$2"
    fi
}
"#;
    let text = preamble("bare-metal change set", steps.len(), extra) + &body;
    out.insert(
        0,
        File {
            name: "apply.sh".into(),
            text,
        },
    );
    out
}

/// A launch line as a change set runs it: a server detached from the step's shell, its output
/// in `/tmp/fleetfit-{deployment}-{replica}.log`.
fn render_detached(line: &Line, deployment: &str, replica: u64) -> String {
    match line {
        Line::Comment(_) => line.render(),
        Line::Command(command) if command.background => {
            let log = quote(&format!("/tmp/fleetfit-{deployment}-{replica}.log"));
            let env: String = command
                .env
                .iter()
                .map(|(name, value)| format!("{name}={} ", quote(value)))
                .collect();
            let argv: Vec<String> = command.argv.iter().map(|w| quote(w)).collect();
            format!("{env}nohup {} >>{log} 2>&1 &", argv.join(" "))
        }
        Line::Command(_) => line.render(),
    }
}

/// What a stopped process's command line must hold: the model as its engine loads it.
fn model_text(e: &Emit<'_>, replica: &crate::domain::PlacedReplica) -> String {
    e.workload
        .deployment(&replica.deployment)
        .map_or_else(|| replica.deployment.clone(), |d| e.model_name(d))
}
