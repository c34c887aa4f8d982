//! A sharded sweep as a scheduler's job: a Slurm job array (an `sbatch` script) or a Kubernetes
//! Indexed Job, each task running `fleetfit whatif|drill ... --shard N` with its index from the
//! scheduler (`SLURM_ARRAY_TASK_ID`, `JOB_COMPLETION_INDEX`) and writing its part for
//! `fleetfit merge`. Built as data: the script's words go through `shell::quote`, the manifest is
//! a serde value (every `$` of a given argument doubled, as Kubernetes reads `$$`).

use serde_json::json;

use super::shell::{comment, quote};

/// One sweep to run as `shards` tasks.
#[derive(Debug, Clone)]
pub struct SweepJob {
    /// `whatif` or `drill`.
    pub sweep: String,
    /// The sweep's own arguments (inputs, `--fail`, `--time-limit`, ...), as given.
    pub args: Vec<String>,
    pub shards: u32,
    /// Cores per task, which is also each task's `--jobs`.
    pub cpus: u32,
    /// The program each task runs (`fleetfit` on the PATH, or a path).
    pub program: String,
    /// Where the parts go (a folder every task and the merge can reach).
    pub parts: String,
}

impl SweepJob {
    /// The words each task runs, its part's path ending in `index` (the scheduler's variable).
    fn words(&self, escape: impl Fn(&str) -> String) -> Vec<String> {
        let mut words = vec![escape(&self.program), self.sweep.clone()];
        words.extend(self.args.iter().map(|a| escape(a)));
        words.extend([
            "--jobs".to_string(),
            self.cpus.to_string(),
            "--shard".into(),
            self.shards.to_string(),
        ]);
        words.push("--out".into());
        words
    }

    /// The merge that joins the parts once every task is done.
    pub fn merge_command(&self) -> String {
        format!(
            "{} merge {}/part-*.json > {}.json",
            quote(&self.program),
            quote(&self.parts),
            self.sweep
        )
    }

    /// An `sbatch` script: a job array of `shards` tasks.
    pub fn slurm(&self) -> String {
        let mut words: Vec<String> = self.words(quote);
        words.push(format!("{}/part-\"${{SLURM_ARRAY_TASK_ID}}\".json", quote(&self.parts)));
        let lines = [
            "#!/bin/bash".to_string(),
            comment(&format!(
                "fleetfit: a sharded {} as a Slurm job array of {} tasks, each writing its part",
                self.sweep, self.shards
            )),
            comment("submit: jobid=$(sbatch --parsable THIS_FILE)"),
            comment(&format!(
                "then:   sbatch --dependency=afterok:$jobid --wrap '{}'",
                self.merge_command().replace('\'', "'\\''")
            )),
            format!("#SBATCH --job-name=fleetfit-{}", self.sweep),
            format!("#SBATCH --array=0-{}", self.shards - 1),
            format!("#SBATCH --cpus-per-task={}", self.cpus),
            "#SBATCH --output=fleetfit-%x-%A_%a.log".to_string(),
            "set -eu".to_string(),
            format!("mkdir -p {}", quote(&self.parts)),
            format!("exec {}", words.join(" ")),
        ];
        lines.join("\n") + "\n"
    }

    /// A Kubernetes Indexed Job of `shards` pods running `image`, the inputs from the ConfigMap
    /// `inputs` mounted at `/in`, the parts on the volume claim `claim` mounted at `parts`.
    pub fn kubernetes(&self, image: &str, inputs: &str, claim: &str) -> String {
        let escape = |word: &str| word.replace('$', "$$");
        let mut command = self.words(escape);
        command.push(format!("{}/part-$(JOB_COMPLETION_INDEX).json", escape(&self.parts)));
        let job = json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": format!("fleetfit-{}", self.sweep),
                "labels": {"app.kubernetes.io/name": "fleetfit"},
            },
            "spec": {
                "completionMode": "Indexed",
                "completions": self.shards,
                "parallelism": self.shards,
                "backoffLimit": self.shards,
                "template": {
                    "metadata": {"labels": {"app.kubernetes.io/name": "fleetfit"}},
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{
                            "name": self.sweep,
                            "image": image,
                            "command": command,
                            "resources": {"requests": {"cpu": self.cpus.to_string()}},
                            "volumeMounts": [
                                {"name": "inputs", "mountPath": "/in", "readOnly": true},
                                {"name": "parts", "mountPath": self.parts},
                            ],
                        }],
                        "volumes": [
                            {"name": "inputs", "configMap": {"name": inputs}},
                            {"name": "parts", "persistentVolumeClaim": {"claimName": claim}},
                        ],
                    },
                },
            },
        });
        let title = format!(
            "fleetfit: a sharded {} as an Indexed Job of {} pods; then {}",
            self.sweep,
            self.shards,
            self.merge_command()
        );
        format!(
            "{}\n{}",
            comment(&title),
            serde_yaml::to_string(&job).expect("a manifest serializes")
        )
    }
}
