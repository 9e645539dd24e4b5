//! MCP02 privilege escalation: calls to tools that are not listed. A gateway's policy or
//! guard hides tools by leaving them out of `tools/list`; if a call by name still runs, the
//! hiding was cosmetic. Tried: names an attacker guesses first, also under every namespace
//! prefix the listing shows (`stock__exec`).

use std::collections::BTreeSet;

use serde_json::Map;

use super::injection::tally;
use crate::{
    Attempt, Outcome, Risk,
    session::{Session, stopped},
};

/// Names of tools that servers have and gateways hide.
const GUESSES: &[&str] = &[
    "exec",
    "shell",
    "run_command",
    "execute_command",
    "eval",
    "debug",
    "admin",
    "read_file",
    "write_file",
    "delete_file",
    "get_secret",
    "list_users",
];

pub(crate) async fn run(target: &str, session: &Session) -> Vec<Attempt> {
    let listed: BTreeSet<&str> = session.tools.iter().map(|t| t.name.as_ref()).collect();
    let prefixes: BTreeSet<&str> = listed
        .iter()
        .filter_map(|name| name.split_once("__").map(|(prefix, _)| prefix))
        .collect();
    let mut names: Vec<String> = GUESSES.iter().map(|g| (*g).to_owned()).collect();
    for prefix in &prefixes {
        names.extend(GUESSES.iter().map(|g| format!("{prefix}__{g}")));
    }
    names.retain(|n| !listed.contains(n.as_str()));
    let mut stops = Vec::new();
    let mut attempts = Vec::new();
    for name in &names {
        let answer = session.call(name, Map::new()).await;
        match stopped(&answer) {
            Some(reason) => stops.push(reason),
            None => attempts.push(Attempt::new(
                Risk::PrivilegeEscalation,
                format!("call to unlisted tool `{name}`"),
                target,
                Outcome::Succeeded,
                format!(
                    "`{name}` is not in tools/list but ran: {}",
                    answer.text().map(crate::excerpt).unwrap_or_default()
                ),
            )),
        }
    }
    if attempts.is_empty() {
        attempts.push(Attempt::new(
            Risk::PrivilegeEscalation,
            "calls to unlisted tools",
            target,
            Outcome::Blocked,
            format!("{} names tried, none ran: {}", names.len(), tally(&stops)),
        ));
    }
    attempts
}
