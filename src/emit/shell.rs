//! Shell scripts built as data: a command is its environment and its argv, and only here are
//! they turned into text, every word quoted so that `sh` reads back exactly that argv. Names
//! from input files (deployments, models, nodes) reach root shells on GPU nodes this way, so
//! nothing else in `emit` writes a command line by hand.

/// One command of a script: `NAME=value ... argv... [&]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Variables set for this command only; names are fleetfit's own (`CUDA_VISIBLE_DEVICES`).
    pub env: Vec<(&'static str, String)>,
    pub argv: Vec<String>,
    /// Run in the background (`&`), so that the script starts every server and then waits.
    pub background: bool,
}

impl Command {
    /// A command run in the background with the given environment.
    pub fn background(env: Vec<(&'static str, String)>, argv: Vec<String>) -> Command {
        Command {
            env,
            argv,
            background: true,
        }
    }

    /// The command as one line of `sh`.
    pub fn render(&self) -> String {
        let mut words: Vec<String> = self
            .env
            .iter()
            .map(|(name, value)| {
                debug_assert!(name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'));
                format!("{name}={}", quote(value))
            })
            .collect();
        words.extend(self.argv.iter().map(|w| quote(w)));
        if self.background {
            words.push("&".into());
        }
        words.join(" ")
    }
}

/// A word as POSIX `sh` reads it back unchanged: bare where every character is one no shell
/// treats specially, else in single quotes, with `'`, `$`, backquotes and backslashes written
/// outside them as `\'`, `\$`, `` \` `` and `\\` (so no reader, shellcheck included, takes a
/// name's `$(...)` for an expansion someone forgot to make).
pub fn quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-+=:,./@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) && !word.starts_with('=') {
        return word.to_string();
    }
    if word.is_empty() {
        return "''".into();
    }
    let mut out = String::with_capacity(word.len() + 2);
    let mut open = false;
    for c in word.chars() {
        if matches!(c, '\'' | '$' | '`' | '\\') {
            if open {
                out.push('\'');
                open = false;
            }
            out.push('\\');
        } else if !open {
            out.push('\'');
            open = true;
        }
        out.push(c);
    }
    if open {
        out.push('\'');
    }
    out
}

/// A comment line: `# ` and the text with any control character escaped, so that no text can
/// end the comment and start a command.
pub fn comment(text: &str) -> String {
    let mut out = String::from("# ");
    for c in text.chars() {
        if crate::formats::names::is_hidden(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_bare_only_where_nothing_is_special() {
        assert_eq!(quote("meta-llama/Llama-3.1-8B"), "meta-llama/Llama-3.1-8B");
        assert_eq!(quote("0,1,2,3"), "0,1,2,3");
        assert_eq!(quote("x $(touch /tmp/PWNED)"), r"'x '\$'(touch /tmp/PWNED)'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote("`id`"), r"\`'id'\`");
        assert_eq!(quote("$$"), r"\$\$");
        assert_eq!(quote("a\\b"), r"'a'\\'b'");
        assert_eq!(quote("~root"), "'~root'");
        assert_eq!(quote("*"), "'*'");
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn commands_quote_environment_and_arguments() {
        let command = Command::background(
            vec![("CUDA_VISIBLE_DEVICES", "0,1".into())],
            vec!["vllm".into(), "serve".into(), "a b".into()],
        );
        assert_eq!(command.render(), "CUDA_VISIBLE_DEVICES=0,1 vllm serve 'a b' &");
    }

    #[test]
    fn comments_cannot_break_out_of_their_line() {
        assert_eq!(comment("a\nrm -rf /"), "# a\\nrm -rf /");
    }
}
