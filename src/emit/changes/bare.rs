//! A bare-metal change set: `apply.sh`, which runs each step's script on its node over
//! `$FLEETFIT_SSH` (default `ssh`; `local` runs it here), and one script per step and node.
//!
//! A started server takes, when its step runs, the lowest TCP port from 8000 up that nothing on
//! its node listens on (`/proc/net/tcp`), so a start never collides with a server fleetfit does
//! not know of; the step waits until that port serves the deployment's name (`/v1/models`).

use super::{Step, preamble, title};
use crate::domain::Plan;
use crate::emit::launch::{self, Line};
use crate::emit::server::Runtime;
use crate::emit::shell::{comment, quote};
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
    # The process list is taken before awk starts, so awk's own arguments are not in it.
    list=$(ps -eo pid=,args=)
    pid=$(printf '%s\n' "$list" | awk -v name="$1" -v port="--port $2 " 'index($0 " ", port) && index($0, name) { print $1; exit }')
    if [ -z "$pid" ]; then echo "no server of $1 on port $2" >&2; return 1; fi
    kill -TERM "$pid"
    until_gone "$pid"
}
# The lowest TCP port from $1 up that nothing on this node listens on.
free_port() {
    p=$1
    while [ "$p" -le 65535 ]; do
        if ! grep -qE "^ *[0-9]+: [0-9A-F]+:$(printf '%04X' "$p") [0-9A-F]+:[0-9A-F]+ 0A" /proc/net/tcp /proc/net/tcp6 2>/dev/null; then
            echo "$p"
            return 0
        fi
        p=$((p + 1))
    done
    echo "no free TCP port from $1 up" >&2
    return 1
}
# Waits until the server on port $1 serves the model name $2; gives up when process $3 (where
# given) has exited.
until_serving() {
    waited=0
    until curl -sf --max-time 10 "http://127.0.0.1:$1/v1/models" 2>/dev/null | grep -qF "\"$2\""; do
        if [ -n "${3:-}" ] && ! kill -0 "$3" 2>/dev/null; then echo "the server of $2 exited; see its log" >&2; return 1; fi
        if [ "$waited" -ge "$timeout" ]; then echo "port $1 does not serve $2 after $timeout s" >&2; return 1; fi
        sleep 5
        waited=$((waited + 15))
    done
}
"#;

/// The first port a started server may take.
const FIRST_PORT: u64 = 8000;

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
    // The ports the current plan's own scripts gave its servers (every replica counted, as the
    // scripts numbered them), where its command line was not read.
    let all = Emit::new(current, before.fleet, before.workload);
    let old_ports = launch::ports(&all);
    let mut out = Vec::new();
    let mut body = String::new();
    for s in steps {
        let n = s.step.step;
        body += &format!("if step {n} {}; then\n", quote(&title(s.step)));
        if s.step.action == "start" {
            let r = &after.plan.replicas[s.replica];
            let head = r.stages[0].node.as_str();
            // A replica across nodes gets Ray / rendezvous ports of its own (101 to 1000 above the
            // full scripts' first), from its identity, so that change sets of other nights do
            // not reuse the ports of a replica still running; a port in use fails the start.
            let lines = launch::replica_lines(
                after,
                s.replica,
                runtime_of(after, s.replica),
                &shares[s.replica],
                FIRST_PORT,
                cluster_number(r),
            );
            // The server answers once every node's part runs: the wait goes last, on the head.
            let parts = lines.len();
            let port_file = quote(&format!(
                "/tmp/fleetfit-{}-{}.port",
                names::label_value(&r.deployment),
                r.replica
            ));
            for (k, (node, lines)) in lines.into_iter().enumerate() {
                let file = step_file(s, r, &format!("{k}-{node}"));
                let mut text = script(s, "");
                let serves = lines
                    .iter()
                    .any(|l| matches!(l, Line::Command(c) if is_server(&c.argv)));
                let head_server = serves && node == head;
                if head_server {
                    text += &format!("port=$(free_port {FIRST_PORT})\necho \"$port\" > {port_file}\n");
                } else if serves {
                    text += &format!("port=$(free_port {FIRST_PORT})\n");
                }
                for line in &lines {
                    text += &render_detached(line, &r.deployment, r.replica);
                    text.push('\n');
                }
                if head_server && k + 1 == parts {
                    text += &format!("until_serving \"$port\" {} \"$!\"\n", quote(&r.deployment));
                }
                body += &format!("    on {} {}\n", quote(node), quote(&file));
                out.push(File { name: file, text });
            }
            if lines_head_first_serves(&out, parts) {
                let file = step_file(s, r, &format!("wait-{head}"));
                let text = script(
                    s,
                    &format!("until_serving \"$(cat {port_file})\" {}\n", quote(&r.deployment)),
                );
                body += &format!("    on {} {}\n", quote(head), quote(&file));
                out.push(File { name: file, text });
            }
        } else if let Some(gone) = &s.gone {
            body += &format!("    echo {} >&2\n", quote(&format!("{gone}: nothing to stop there")));
        } else {
            let r = &current.replicas[s.replica];
            let head = r.stages[0].node.clone();
            let running = s.running;
            let port = running
                .and_then(|x| x.port)
                .or_else(|| old_ports.get(s.replica).copied());
            let model = running.and_then(|x| x.model.clone());
            let command = match (running.and_then(|x| x.pid), model, port) {
                (Some(pid), Some(model), _) => format!("stop_pid {pid} {}", quote(&model)),
                (Some(pid), None, _) => format!("stop_pid {pid} {}", quote(&r.deployment)),
                (None, _, Some(port)) => format!(
                    "stop_server {} {port}",
                    quote(&format!("--served-model-name {}", r.deployment))
                ),
                (None, _, None) => format!(
                    "echo {} >&2\nexit 1",
                    quote(&format!(
                        "no process or port is known for {}#{}; stop it by hand, then resume with --from {}",
                        r.deployment,
                        r.replica,
                        n + 1
                    ))
                ),
            };
            let file = step_file(s, r, &head);
            let text = script(s, &format!("{command}\n"));
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
            // The server's port is the one `free_port` found when the step runs (a Ray head's
            // `--port` is its own).
            let server = is_server(&command.argv);
            let mut argv: Vec<String> = Vec::with_capacity(command.argv.len());
            for (i, w) in command.argv.iter().enumerate() {
                let after_port = server && i > 0 && command.argv[i - 1] == "--port";
                argv.push(if after_port { "\"$port\"".to_string() } else { quote(w) });
            }
            format!("{env}nohup {} >>{log} 2>&1 &", argv.join(" "))
        }
        Line::Command(_) => line.render(),
    }
}

/// Whether a command is a replica's server (it names what it serves), not a Ray or rpc worker.
fn is_server(argv: &[String]) -> bool {
    argv.iter().any(|w| w == "--served-model-name" || w == "--alias")
}

/// Whether the last `parts` start scripts put the server on the head before other nodes' parts
/// (SGLang's rank 0 first), so that the wait needs a script of its own after them all.
fn lines_head_first_serves(out: &[File], parts: usize) -> bool {
    let started = &out[out.len() - parts..];
    !started
        .last()
        .is_some_and(|f| f.text.contains("\nuntil_serving \"$port\""))
}

/// Ray and rendezvous port offset (101 to 1000) of a replica across nodes, from its deployment,
/// number and GPUs.
fn cluster_number(r: &crate::domain::PlacedReplica) -> u64 {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(r.deployment.as_bytes());
    for s in &r.stages {
        hash.update(s.node.as_bytes());
        for g in &s.gpus {
            hash.update(g.to_le_bytes());
        }
    }
    let digest = hash.finalize();
    101 + u64::from(u16::from_le_bytes([digest[0], digest[1]])) % 900
}

/// A step script's file name: `{step}-{action}-{deployment}-{replica}-{part}.sh`.
fn step_file(s: &Step<'_>, r: &crate::domain::PlacedReplica, part: &str) -> String {
    format!(
        "{:03}-{}-{}-{}-{part}.sh",
        s.step.step,
        s.step.action,
        names::label_value(&r.deployment),
        r.replica
    )
}

/// A step script: its title as a comment, the helpers, then `body`.
fn script(s: &Step<'_>, body: &str) -> String {
    format!(
        "#!/bin/sh\n{}\n{HELPERS}{body}",
        comment(&format!("fleetfit change set: {}", title(s.step)))
    )
}
