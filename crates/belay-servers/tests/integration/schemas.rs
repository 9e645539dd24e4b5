//! Every reference server's tool schemas are valid JSON Schema 2020-12 that clients read
//! without warnings: only the formats the standard defines (the TypeScript SDK's Ajv warns
//! about `uint32`, `uint`…), and one `type` per schema (the MCP Inspector's `--strict`
//! flags `"type": ["string", "null"]`).

use belay_servers::{
    ServerName, conformance::ConformanceServer, matheval::MathEvalServer, news::NewsServer,
    stock::StockServer, weather::WeatherServer, whoami::WhoamiServer,
};
use rmcp::{ServerHandler, model::Tool};
use serde_json::Value;

use crate::common::{Era, ScriptedClient, over_pipe};

/// Servers whose schemas are not portable yet, each with the reason. An entry must still
/// have findings (the test says so when it does not), so the list cannot go stale.
const NOT_YET_PORTABLE: &[(&str, &str)] = &[];

async fn tools_of<S: ServerHandler>(server: S) -> anyhow::Result<Vec<Tool>> {
    let client = over_pipe(server, ScriptedClient::new(Era::Handshake)).await?;
    let tools = client.list_all_tools().await?;
    client.cancel().await?;
    Ok(tools)
}

/// What a strict client would complain about in one schema, as `tool.kind: problem` lines.
fn problems(tool: &str, kind: &str, schema: &Value) -> Vec<String> {
    let mut found = Vec::new();
    if let Err(e) = jsonschema::draft202012::meta::validate(schema) {
        found.push(format!("{tool}.{kind}: not JSON Schema 2020-12: {e}"));
    }
    // Ajv's behaviour: a format it does not know is an error when asked to be strict.
    if let Err(e) = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .should_ignore_unknown_formats(false)
        .build(schema)
    {
        found.push(format!("{tool}.{kind}: {e}"));
    }
    let mut nodes = vec![("#".to_owned(), schema)];
    while let Some((path, node)) = nodes.pop() {
        match node {
            Value::Object(object) => {
                if let Some(Value::Array(types)) = object.get("type") {
                    found.push(format!("{tool}.{kind}: {path}: type array {types:?}"));
                }
                if let Some(Value::String(format)) = object.get("format")
                    && !STANDARD_FORMATS.contains(&format.as_str())
                {
                    found.push(format!("{tool}.{kind}: {path}: format `{format}`"));
                }
                for (key, child) in object {
                    nodes.push((format!("{path}/{key}"), child));
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    nodes.push((format!("{path}/{i}"), child));
                }
            }
            _ => {}
        }
    }
    found
}

/// JSON Schema 2020-12 Validation, section 7.3: the formats every validator knows.
const STANDARD_FORMATS: &[&str] = &[
    "date-time",
    "date",
    "time",
    "duration",
    "email",
    "idn-email",
    "hostname",
    "idn-hostname",
    "ipv4",
    "ipv6",
    "uri",
    "uri-reference",
    "iri",
    "iri-reference",
    "uuid",
    "uri-template",
    "json-pointer",
    "relative-json-pointer",
    "regex",
];

#[tokio::test]
async fn every_tool_schema_is_standard_json_schema_with_one_type_per_schema() -> anyhow::Result<()>
{
    let servers = [
        ("stock", tools_of(StockServer::new()).await?),
        ("weather", tools_of(WeatherServer::new()).await?),
        ("matheval", tools_of(MathEvalServer::new()).await?),
        ("news", tools_of(NewsServer::new()).await?),
        ("conformance", tools_of(ConformanceServer::new()).await?),
        ("whoami", tools_of(WhoamiServer::new()).await?),
    ];
    let mut named: Vec<&str> = servers.iter().map(|(name, _)| *name).collect();
    let mut all: Vec<&str> = ServerName::ALL.iter().map(|n| n.as_str()).collect();
    named.sort_unstable();
    all.sort_unstable();
    assert_eq!(named, all, "a server is missing from this test");

    let mut report = Vec::new();
    for (server, tools) in &servers {
        assert!(!tools.is_empty(), "{server} lists no tools");
        let mut found = Vec::new();
        for tool in tools {
            let input = Value::Object(tool.input_schema.as_ref().clone());
            found.extend(problems(&tool.name, "inputSchema", &input));
            if let Some(output) = &tool.output_schema {
                let output = Value::Object(output.as_ref().clone());
                found.extend(problems(&tool.name, "outputSchema", &output));
            }
        }
        match NOT_YET_PORTABLE.iter().find(|(name, _)| name == server) {
            Some((_, why)) => assert!(
                !found.is_empty(),
                "{server} is portable now: take it off NOT_YET_PORTABLE ({why})"
            ),
            None => report.extend(found.into_iter().map(|p| format!("{server}: {p}"))),
        }
    }
    assert!(report.is_empty(), "{}", report.join("\n"));
    Ok(())
}
