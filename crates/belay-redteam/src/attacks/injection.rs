//! MCP05 command injection: string parameters that look like commands, expressions or paths
//! get payloads that prove execution without doing anything. A command payload only `printf`s
//! `rt-NONCE`, a form that is not literally in the payload, so a server that merely echoes
//! its input cannot pass for one that ran it. A path payload only reads `/etc/passwd`
//! (world-readable); it counts only when its `root:…:0:0:` entry comes back.

use rmcp::model::Tool;
use serde_json::Value;

use crate::{
    Attempt, Outcome, Risk,
    session::{Session, properties, required_samples, stopped, takes_string},
};

/// Words in a parameter's name or description that say it is run or evaluated.
const COMMAND_WORDS: &[&str] = &[
    "cmd",
    "command",
    "commands",
    "exec",
    "execute",
    "shell",
    "script",
    "program",
    "expr",
    "expression",
    "eval",
    "evaluate",
    "formula",
    "calc",
    "calculation",
    "host",
    "hostname",
    "args",
];

/// Words in a parameter's name or description that say it names a file.
const PATH_WORDS: &[&str] = &[
    "path",
    "paths",
    "file",
    "filename",
    "filepath",
    "dir",
    "directory",
    "folder",
    "document",
];

/// What a parameter looks like it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Looks {
    Command,
    Path,
}

/// Whether the parameter `name` (described as `description`) takes a command or a path.
pub(crate) fn looks(name: &str, description: &str) -> Vec<Looks> {
    let mut words = belay_guard::key_words(name);
    words.extend(
        description
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase),
    );
    let mut found = Vec::new();
    if words.iter().any(|w| COMMAND_WORDS.contains(&w.as_str())) {
        found.push(Looks::Command);
    }
    if words.iter().any(|w| PATH_WORDS.contains(&w.as_str())) {
        found.push(Looks::Path);
    }
    found
}

/// The printed form a command payload proves execution by.
pub(crate) fn marker(nonce: &str) -> String {
    format!("rt-{nonce}")
}

/// Payloads that print [`marker`] when run by a shell or evaluated by Python or JavaScript.
pub(crate) fn command_payloads(nonce: &str) -> Vec<String> {
    let print = format!("printf 'rt-%s' {nonce}");
    vec![
        print.clone(),
        format!("test; {print}"),
        format!("test && {print}"),
        format!("test | {print}"),
        format!("test$({print})"),
        format!("test`{print}`"),
        format!("test\n{print}"),
        format!("\"rt-\"+\"{nonce}\""),
    ]
}

/// Payloads that reach `/etc/passwd` from a folder the server meant to confine reads to.
pub(crate) const PATH_PAYLOADS: &[&str] = &[
    "../../../../../../../../etc/passwd",
    "/etc/passwd",
    "....//....//....//....//....//....//etc/passwd",
    "..%2f..%2f..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
    "file:///etc/passwd",
];

/// Whether `text` holds a passwd file's root entry (`root:x:0:0:`).
pub(crate) fn holds_passwd(text: &str) -> bool {
    text.lines().any(|line| {
        let fields: Vec<&str> = line.trim().split(':').collect();
        fields.len() >= 4 && fields[0] == "root" && fields[2] == "0" && fields[3] == "0"
    })
}

pub(crate) async fn run(target: &str, session: &Session) -> Vec<Attempt> {
    let mut attempts = Vec::new();
    for tool in &session.tools {
        for (param, schema) in properties(tool) {
            if !takes_string(&schema) || schema.get("enum").is_some() {
                continue;
            }
            let description = schema
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("");
            for kind in looks(&param, description) {
                attempts.push(attack(target, session, tool, &param, kind).await);
            }
        }
    }
    if attempts.is_empty() {
        attempts.push(Attempt::new(
            Risk::CommandInjection,
            "shell metacharacters and path traversal",
            target,
            Outcome::NotApplicable,
            "no tool takes a string that looks like a command, an expression or a path",
        ));
    }
    attempts
}

async fn attack(target: &str, session: &Session, tool: &Tool, param: &str, kind: Looks) -> Attempt {
    let nonce = crate::nonce();
    let (label, payloads) = match kind {
        Looks::Command => ("shell/eval payloads", command_payloads(&nonce)),
        Looks::Path => (
            "path traversal",
            PATH_PAYLOADS.iter().map(|p| (*p).to_owned()).collect(),
        ),
    };
    let attack = format!("{label} in `{}`.{param}", tool.name);
    let mut stops = Vec::new();
    for payload in &payloads {
        let mut arguments = required_samples(tool);
        arguments.insert(param.to_owned(), Value::from(payload.as_str()));
        let answer = session.call(&tool.name, arguments).await;
        let ran = match (kind, answer.text()) {
            (Looks::Command, Some(text)) => text.contains(&marker(&nonce)),
            (Looks::Path, Some(text)) => holds_passwd(text),
            _ => false,
        };
        if ran {
            let evidence = match kind {
                Looks::Command => format!(
                    "{payload:?} ran: the result holds `{}`, which only running it prints",
                    marker(&nonce)
                ),
                Looks::Path => format!("{payload:?} returned /etc/passwd (its root:…:0:0 entry)"),
            };
            return Attempt::new(
                Risk::CommandInjection,
                attack,
                target,
                Outcome::Succeeded,
                evidence,
            );
        }
        stops.push(stopped(&answer).unwrap_or_else(|| "answered without running it".into()));
    }
    Attempt::new(
        Risk::CommandInjection,
        attack,
        target,
        Outcome::Blocked,
        format!("{} payloads, none ran: {}", payloads.len(), tally(&stops)),
    )
}

/// Distinct reasons a tally shows; the rest are counted.
const MOST_REASONS: usize = 3;

/// `reason ×N` for each distinct reason, most frequent first, the first few only.
pub(crate) fn tally(reasons: &[String]) -> String {
    let mut counts: Vec<(&String, usize)> = Vec::new();
    for reason in reasons {
        match counts.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, n)) => *n += 1,
            None => counts.push((reason, 1)),
        }
    }
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    let more = counts.len().saturating_sub(MOST_REASONS);
    let mut shown: Vec<String> = counts
        .iter()
        .take(MOST_REASONS)
        .map(|(r, n)| {
            if *n > 1 {
                format!("{} ×{n}", crate::excerpt(r))
            } else {
                crate::excerpt(r)
            }
        })
        .collect();
    if more > 0 {
        shown.push(format!("{more} other reasons"));
    }
    shown.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_command_payload_holds_its_marker() {
        let nonce = "0123456789ab";
        for payload in command_payloads(nonce) {
            assert!(!payload.contains(&marker(nonce)), "{payload}");
        }
    }

    #[test]
    fn parameters_are_read_by_name_and_description() {
        assert_eq!(looks("command", ""), [Looks::Command]);
        assert_eq!(looks("filePath", ""), [Looks::Path]);
        assert_eq!(looks("q", "The shell command to run"), [Looks::Command]);
        assert!(looks("symbol", "A stock ticker such as AAPL").is_empty());
        assert!(looks("city", "").is_empty());
    }

    #[test]
    fn only_a_passwd_root_entry_counts() {
        assert!(holds_passwd(
            "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/:/bin/sh"
        ));
        assert!(!holds_passwd("no such file: ../../etc/passwd"));
        assert!(!holds_passwd("root: 0 0"));
        assert!(!holds_passwd("root:x:1000:1000:"));
    }
}
