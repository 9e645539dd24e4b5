//! Tests of the stock server through real rmcp clients, over the pipe (what stdio
//! carries) and Streamable HTTP, in both protocol eras.
//!
//! This file holds the stock-only helpers and the discovery tests; the sibling files hold
//! the rest. The sessions themselves come from the shared kit (`crate::common`).

#[path = "stock_asking.rs"]
mod asking;
#[path = "stock_data.rs"]
mod data;
#[path = "stock_tools.rs"]
mod tools;

use belay_servers::stock::StockServer;
use rmcp::{ServiceError, model::ErrorData};
use serde_json::{Value, json};

use crate::common::{ScriptedClient, Session, setups};

pub const TICKER_LIST: &str = "Valid tickers: AAPL, MSFT, GOOGL, AMZN, TSLA, META, NVDA.";

/// The JSON-RPC error inside a failed request.
pub fn rpc_error<T: std::fmt::Debug>(result: Result<T, ServiceError>) -> anyhow::Result<ErrorData> {
    match result {
        Err(ServiceError::McpError(error)) => Ok(error),
        other => anyhow::bail!("expected a JSON-RPC error, got {other:?}"),
    }
}

const TOOLS: [&str; 7] = [
    "calculate_portfolio_value",
    "compare_stock_prices",
    "get_investment_advice",
    "get_stock_history",
    "get_stock_price",
    "get_ticker_info",
    "stock_headline_sampling",
];

#[tokio::test]
async fn the_server_names_itself_and_its_capabilities() -> anyhow::Result<()> {
    for (wire, era) in setups() {
        let session = Session::open(StockServer::new(), wire, ScriptedClient::new(era)).await?;
        let label = &session.label;
        let Some(peer) = session.client.peer_info() else {
            anyhow::bail!("{label}: no server info");
        };
        let name = peer.server_info.as_ref().map(|i| i.name.clone());
        assert_eq!(name.as_deref(), Some("belay-stock"), "{label}");
        let instructions = peer.instructions.clone().unwrap_or_default();
        assert!(
            instructions.contains("stock://{symbol}"),
            "{label}: {instructions}"
        );
        let caps = &peer.capabilities;
        assert!(caps.tools.is_some() && caps.resources.is_some(), "{label}");
        assert!(
            caps.prompts.is_some() && caps.completions.is_some(),
            "{label}"
        );
        session.close().await?;
    }
    Ok(())
}

#[tokio::test]
async fn tools_are_listed_with_schemas_and_annotations() -> anyhow::Result<()> {
    for (wire, era) in setups() {
        let session = Session::open(StockServer::new(), wire, ScriptedClient::new(era)).await?;
        let label = &session.label;
        let tools = session.client.list_all_tools().await?;
        let mut names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
        names.sort();
        assert_eq!(names, TOOLS, "{label}");
        for tool in &tools {
            let output = tool
                .output_schema
                .as_deref()
                .map(|s| Value::Object(s.clone()));
            let structured = matches!(
                tool.name.as_ref(),
                "get_stock_price" | "compare_stock_prices" | "calculate_portfolio_value"
            );
            assert_eq!(output.is_some(), structured, "{label}: {}", tool.name);
            if let Some(schema) = output {
                assert_eq!(schema["type"], "object", "{label}: {}", tool.name);
            }
            let read_only = tool.annotations.as_ref().and_then(|a| a.read_only_hint);
            assert_eq!(read_only, Some(true), "{label}: {}", tool.name);
        }
        let schema_of = |name: &str| {
            tools
                .iter()
                .find(|t| t.name == name)
                .map(|t| Value::Object((*t.input_schema).clone()))
                .unwrap_or_default()
        };
        let price_out = tools
            .iter()
            .find(|t| t.name == "get_stock_price")
            .and_then(|t| t.output_schema.as_deref().cloned())
            .map(Value::Object)
            .unwrap_or_default();
        assert_eq!(
            price_out["properties"]["price"]["type"], "number",
            "{label}"
        );
        let history = schema_of("get_stock_history");
        assert_eq!(history["properties"]["period"]["default"], "1mo", "{label}");
        assert_eq!(history["required"], json!(["symbol"]), "{label}");
        let portfolio = schema_of("calculate_portfolio_value");
        assert_eq!(
            portfolio["properties"]["holdings"]["additionalProperties"]["type"], "number",
            "{label}"
        );
        session.close().await?;
    }
    Ok(())
}

#[tokio::test]
async fn prompts_are_listed_with_their_arguments() -> anyhow::Result<()> {
    for (wire, era) in setups() {
        let session = Session::open(StockServer::new(), wire, ScriptedClient::new(era)).await?;
        let label = &session.label;
        let prompts = session.client.list_all_prompts().await?;
        let mut seen = Vec::new();
        for prompt in &prompts {
            let mut args: Vec<_> = prompt
                .arguments
                .iter()
                .flatten()
                .map(|a| (a.name.clone(), a.required.unwrap_or(false)))
                .collect();
            args.sort();
            seen.push((prompt.name.clone(), args));
        }
        seen.sort();
        let expected = vec![
            (
                "risk_assessment_prompt".to_owned(),
                vec![
                    ("risk_tolerance".to_owned(), true),
                    ("symbol".to_owned(), true),
                ],
            ),
            (
                "stock_analysis_prompt".to_owned(),
                vec![("period".to_owned(), false), ("symbol".to_owned(), true)],
            ),
        ];
        assert_eq!(seen, expected, "{label}");
        session.close().await?;
    }
    Ok(())
}
