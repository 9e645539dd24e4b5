//! One MCP session to a target: what it offers, and calls that end as an [`Answer`] (never an
//! error: a refused, hung or broken call is itself evidence).

use std::{sync::Arc, time::Duration};

use belay_client::Target;
pub(crate) use belay_labs::agent::Answer;
use belay_labs::agent::NoAccount;
use rmcp::{RoleClient, model::Tool, service::RunningService};
use serde_json::{Map, Value};

use crate::Options;

/// An open session and the tools listed in it.
pub(crate) struct Session {
    service: RunningService<RoleClient, ()>,
    /// Every tool offered.
    pub(crate) tools: Vec<Tool>,
    timeout: Duration,
}

impl Session {
    /// Opens a session (no sign-in) and lists the tools; the error says what failed.
    pub(crate) async fn open(target: &Target, options: &Options) -> Result<Self, String> {
        let connect = belay_client::ConnectOptions {
            user_agent: Some(Arc::new(NoAccount)),
            ..options.connect.clone()
        };
        let service = belay_client::open(target, (), &connect)
            .await
            .map_err(|e| e.0)?;
        let tools = match tokio::time::timeout(options.call_timeout, service.list_all_tools()).await
        {
            Ok(Ok(tools)) => tools,
            Ok(Err(e)) => {
                let _ = service.cancel().await;
                return Err(format!("listing tools failed: {e}"));
            }
            Err(_) => {
                let _ = service.cancel().await;
                return Err("listing tools timed out".into());
            }
        };
        Ok(Self {
            service,
            tools,
            timeout: options.call_timeout,
        })
    }

    /// Calls `tool` with `arguments`, whether or not it is listed.
    pub(crate) async fn call(&self, tool: &str, arguments: Map<String, Value>) -> Answer {
        belay_labs::agent::call_in(&self.service, tool, arguments, self.timeout).await
    }

    /// Ends the session (a stdio server gets EOF and exits).
    pub(crate) async fn close(self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), self.service.cancel()).await;
    }
}

/// Why a call did not run, for evidence (`None` when it ran without a tool error).
pub(crate) fn stopped(answer: &Answer) -> Option<String> {
    match answer {
        Answer::Answered {
            is_error: false, ..
        } => None,
        Answer::Answered { text, .. } => Some(format!("tool error: {}", crate::excerpt(text))),
        Answer::Refused { .. } | Answer::NotOffered => Some(
            answer
                .defence()
                .unwrap_or_else(|| "refused".to_owned())
                .replace("the server refused the call: ", "refused: "),
        ),
        Answer::Broken { reason } => Some(format!("failed: {reason}")),
    }
}

/// A value that fits `schema` (the first of an enum, a plain word for a string), to fill the
/// parameters an attack does not aim at.
pub(crate) fn sample(schema: &Value) -> Value {
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    if let Some(default) = schema.get("default") {
        return default.clone();
    }
    let kind = match schema.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|k| *k != "null")
            .unwrap_or("string"),
        _ => "string",
    };
    match kind {
        "number" | "integer" => Value::from(1),
        "boolean" => Value::Bool(true),
        "array" => Value::Array(Vec::new()),
        "object" => Value::Object(Map::new()),
        _ => Value::from("test"),
    }
}

/// The declared properties of `tool`'s input schema.
pub(crate) fn properties(tool: &Tool) -> Vec<(String, Value)> {
    tool.input_schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// The required parameters of `tool`, filled with [`sample`] values.
pub(crate) fn required_samples(tool: &Tool) -> Map<String, Value> {
    let required: Vec<&str> = tool
        .input_schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    properties(tool)
        .into_iter()
        .filter(|(name, _)| required.contains(&name.as_str()))
        .map(|(name, schema)| {
            let value = sample(&schema);
            (name, value)
        })
        .collect()
}

/// Whether a property's schema takes a string.
pub(crate) fn takes_string(schema: &Value) -> bool {
    match schema.get("type") {
        Some(Value::String(kind)) => kind == "string",
        Some(Value::Array(kinds)) => kinds.iter().any(|k| k == "string"),
        None => schema.get("enum").is_none(),
        _ => false,
    }
}
