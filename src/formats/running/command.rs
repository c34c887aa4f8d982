//! Engine command lines read back: which engine a container or process runs, the checkpoint, the
//! name it serves, its tensor and pipeline sizes and its precision flags. Reads what people
//! write by hand as well as what fleetfit emits: `vllm serve MODEL`, `python -m
//! vllm.entrypoints.openai.api_server --model MODEL`, `python -m sglang.launch_server
//! --model-path MODEL`, Dynamo's workers (`python -m dynamo.vllm`, `python -m dynamo.sglang`),
//! `llama-server`, each possibly behind `env`, variable assignments, or `sh -c "... && ..."`.

use crate::domain::{Engine, EngineCommand};

/// The engine command in `argv`, if any.
pub fn parse(argv: &[String]) -> Option<EngineCommand> {
    // `sh -c 'ray start ... && vllm serve ...'`: the engine is one of the script's commands.
    // The words after the script are `$0 $1 ...`; a script's `"$@"` stands for `$1 ...`.
    if let [shell, flag, script, positional @ ..] = argv
        && is_shell(shell)
        && flag.starts_with('-')
        && flag.contains('c')
    {
        let params = positional.get(1..).unwrap_or_default();
        return script
            .split(['&', ';', '|', '\n'])
            .filter_map(shlex::split)
            .map(|words| {
                let words = words.into_iter().skip_while(|w| w == "exec");
                words
                    .flat_map(|w| if w == "$@" { params.to_vec() } else { vec![w] })
                    .collect::<Vec<_>>()
            })
            .find_map(|words| parse(&words));
    }
    let words = program_words(argv);
    let (first, rest) = words.split_first()?;
    let base = first.rsplit('/').next().unwrap_or(first);
    let (engine, rest): (Engine, &[String]) = if is_python(base) {
        // `python3 /usr/local/bin/vllm serve ...`: how ps shows the `vllm` script.
        let script = rest.iter().position(|w| !w.starts_with('-'));
        if let Some(at) = script
            && rest[at].rsplit('/').next() == Some("vllm")
            && rest.get(at + 1).is_some_and(|w| w == "serve")
        {
            return vllm_serve(&rest[at + 2..]);
        }
        let module = module_of(rest)?;
        let after = &rest[rest.iter().position(|w| w == "-m")? + 2..];
        let engine = match module.as_str() {
            m if m.starts_with("vllm.entrypoints") || m == "dynamo.vllm" || m.starts_with("dynamo.vllm.") => {
                Engine::Vllm
            }
            m if m == "sglang.launch_server" || m == "dynamo.sglang" || m.starts_with("dynamo.sglang.") => {
                Engine::Sglang
            }
            "vllm" if after.first().is_some_and(|w| w == "serve") => return vllm_serve(&after[1..]),
            _ => return None,
        };
        (engine, after)
    } else if base == "vllm" && rest.first().is_some_and(|w| w == "serve") {
        return vllm_serve(&rest[1..]);
    } else if base == "llama-server" {
        (Engine::LlamaCpp, rest)
    } else {
        return None;
    };
    let model = match engine {
        Engine::Vllm => flag(rest, &["--model"]),
        Engine::Sglang => flag(rest, &["--model-path", "--model"]),
        Engine::LlamaCpp => flag(rest, &["-m", "--model", "-hf", "--hf-repo"]),
    }?;
    Some(with_flags(engine, model, rest))
}

/// `vllm serve MODEL [flags]` (the model may also come as `--model`).
fn vllm_serve(rest: &[String]) -> Option<EngineCommand> {
    let model = match rest.first() {
        Some(w) if !w.starts_with('-') => w.clone(),
        _ => flag(rest, &["--model"])?,
    };
    Some(with_flags(Engine::Vllm, model, rest))
}

fn with_flags(engine: Engine, model: String, rest: &[String]) -> EngineCommand {
    let number = |names: &[&str]| flag(rest, names).and_then(|v| v.parse().ok()).filter(|&n| n > 0);
    EngineCommand {
        engine,
        model,
        served_name: flag(rest, &["--served-model-name", "--alias", "-a"]),
        tensor_parallel: number(&["--tensor-parallel-size", "-tp", "--tp-size", "--tp"]).unwrap_or(1),
        pipeline_parallel: number(&["--pipeline-parallel-size", "-pp", "--pp-size", "--pp"]).unwrap_or(1),
        quantization: flag(rest, &["--quantization", "-q"]),
        dtype: flag(rest, &["--dtype"]),
        port: flag(rest, &["--port"]).and_then(|p| p.parse().ok()),
    }
}

/// The value of the first of `names` in `words`, as `--flag value` or `--flag=value`.
fn flag(words: &[String], names: &[&str]) -> Option<String> {
    for (i, word) in words.iter().enumerate() {
        for name in names {
            if word == name {
                return words.get(i + 1).filter(|v| !v.starts_with('-')).cloned();
            }
            if let Some(value) = word.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
                return Some(value.to_string());
            }
        }
    }
    None
}

/// The words from the program on: past `env`, its options and `NAME=value` assignments.
fn program_words(argv: &[String]) -> &[String] {
    let mut i = 0;
    while let Some(word) = argv.get(i) {
        let base = word.rsplit('/').next().unwrap_or(word);
        let assignment = word
            .split_once('=')
            .is_some_and(|(name, _)| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        if base == "env"
            || assignment
            || (i > 0 && word.starts_with('-') && argv[..i].iter().any(|w| w.ends_with("env")))
        {
            i += 1;
        } else {
            break;
        }
    }
    &argv[i..]
}

/// `python3 -u -m module`: the module.
fn module_of(rest: &[String]) -> Option<String> {
    let at = rest.iter().position(|w| w == "-m")?;
    // Only interpreter options may come before `-m`.
    if rest[..at].iter().any(|w| !w.starts_with('-')) {
        return None;
    }
    rest.get(at + 1).cloned()
}

fn is_python(base: &str) -> bool {
    base == "python"
        || base
            .strip_prefix("python")
            .is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

fn is_shell(word: &str) -> bool {
    matches!(word.rsplit('/').next(), Some("sh" | "bash" | "dash" | "zsh"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        shlex::split(line).unwrap()
    }

    #[test]
    fn reads_the_ways_people_start_engines() {
        let c = parse(&words(
            "vllm serve meta-llama/Llama-3.1-8B --tensor-parallel-size=2 -pp 2 --served-model-name a b",
        ))
        .unwrap();
        assert_eq!(
            (c.engine, c.model.as_str(), c.tensor_parallel, c.pipeline_parallel),
            (Engine::Vllm, "meta-llama/Llama-3.1-8B", 2, 2)
        );
        assert_eq!(c.served_name.as_deref(), Some("a"));
        let c = parse(&words(
            "env A=1 /usr/bin/python3 -u -m vllm.entrypoints.openai.api_server --model m --quantization fp8",
        ))
        .unwrap();
        assert_eq!((c.model.as_str(), c.quantization.as_deref()), ("m", Some("fp8")));
        let c = parse(&words(
            "python3 -m sglang.launch_server --model-path Qwen/Qwen3-0.6B --tp-size 4 --dtype bfloat16",
        ))
        .unwrap();
        assert_eq!(
            (c.engine, c.tensor_parallel, c.dtype.as_deref()),
            (Engine::Sglang, 4, Some("bfloat16"))
        );
        let c = parse(&words(
            "python -m dynamo.vllm --model Qwen/Qwen3-0.6B --tensor-parallel-size 2",
        ))
        .unwrap();
        assert_eq!((c.engine, c.tensor_parallel), (Engine::Vllm, 2));
        let c = parse(&words(
            "sh -c 'ray start --head --port=6379 && vllm serve m --pipeline-parallel-size 2'",
        ))
        .unwrap();
        assert_eq!((c.model.as_str(), c.pipeline_parallel), ("m", 2));
        let c = parse(&words("/app/llama-server -m /models/x.gguf --alias chat")).unwrap();
        assert_eq!((c.engine, c.served_name.as_deref()), (Engine::LlamaCpp, Some("chat")));
        let c = parse(&words(
            "/usr/bin/python3 /usr/local/bin/vllm serve m --tensor-parallel-size 2 --port 8001",
        ))
        .unwrap();
        assert_eq!((c.model.as_str(), c.tensor_parallel, c.port), ("m", 2, Some(8001)));
        assert_eq!(parse(&words("python3 train.py --epochs 3")), None);
        assert_eq!(parse(&words("VLLM::Worker_TP0")), None);
        assert_eq!(
            parse(&words("python3 script.py -m vllm.entrypoints.openai.api_server")),
            None
        );
    }
}
