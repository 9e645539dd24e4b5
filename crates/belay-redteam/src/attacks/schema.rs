//! MCP05 (input validation): arguments that break the tool's own input schema — a value of
//! the wrong type, a required parameter left out, a parameter the schema forbids. A server
//! or gateway should refuse them (-32602, or a gateway's -32003); a tool that runs one is the
//! attack succeeding, since whatever checks its schema promised did not happen.

use rmcp::model::Tool;
use serde_json::{Map, Value};

use super::injection::tally;
use crate::{
    Attempt, Outcome, Risk,
    session::{Session, properties, required_samples, stopped},
};

/// A value of another type than `schema` declares, or `None` when it declares none.
fn wrong_type(schema: &Value) -> Option<Value> {
    let kind = schema.get("type")?.as_str()?;
    Some(match kind {
        "string" => Value::from(1234567),
        "number" | "integer" => Value::from("not a number"),
        "boolean" => Value::from("not a boolean"),
        "array" | "object" => Value::from(42),
        _ => return None,
    })
}

/// The three ways of breaking `tool`'s schema that apply to it, each with its arguments.
fn violations(tool: &Tool) -> Vec<(&'static str, Map<String, Value>)> {
    let mut found = Vec::new();
    let valid = required_samples(tool);
    if let Some((name, bad)) = properties(tool)
        .into_iter()
        .find_map(|(name, schema)| wrong_type(&schema).map(|bad| (name, bad)))
    {
        let mut arguments = valid.clone();
        arguments.insert(name, bad);
        found.push(("a value of the wrong type", arguments));
    }
    if let Some(first) = valid.keys().next() {
        let mut arguments = valid.clone();
        arguments.remove(&first.clone());
        found.push(("a required parameter left out", arguments));
    }
    if tool.input_schema.get("additionalProperties") == Some(&Value::Bool(false)) {
        let mut arguments = valid;
        arguments.insert("belay_redteam_extra".into(), Value::from("x"));
        found.push(("a parameter the schema forbids", arguments));
    }
    found
}

pub(crate) async fn run(target: &str, session: &Session) -> Vec<Attempt> {
    let mut ran = Vec::new();
    let mut stops = Vec::new();
    for tool in &session.tools {
        for (what, arguments) in violations(tool) {
            let answer = session.call(&tool.name, arguments.clone()).await;
            match stopped(&answer) {
                Some(reason) => stops.push(reason),
                None => ran.push(format!(
                    "`{}` ran with {what}: {}",
                    tool.name,
                    Value::Object(arguments)
                )),
            }
        }
    }
    let attack = "schema-breaking arguments";
    if let Some(first) = ran.first() {
        let more = match ran.len() {
            1 => String::new(),
            n => format!(" (and {} more)", n - 1),
        };
        return vec![Attempt::new(
            Risk::CommandInjection,
            attack,
            target,
            Outcome::Succeeded,
            format!("{first}{more}"),
        )];
    }
    if stops.is_empty() {
        return vec![Attempt::new(
            Risk::CommandInjection,
            attack,
            target,
            Outcome::NotApplicable,
            "no tool declares types or required parameters",
        )];
    }
    vec![Attempt::new(
        Risk::CommandInjection,
        attack,
        target,
        Outcome::Blocked,
        format!("{} calls, all refused: {}", stops.len(), tally(&stops)),
    )]
}
