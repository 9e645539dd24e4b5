//! Resources, prompts and argument completion of the stock server.

use belay_servers::stock::StockServer;
use rmcp::model::{
    ArgumentInfo, CompleteRequestParams, ErrorCode, GetPromptRequestParams,
    ReadResourceRequestParams, Reference, ResourceContents,
};
use serde_json::{Value, json};

use super::{TICKER_LIST, rpc_error};
use crate::common::{Era, ScriptedClient, Session, Succeeds as _, object, setups, text_of};

/// The text and MIME type of the single content of `uri`.
async fn read(session: &Session, uri: &str) -> anyhow::Result<(String, Option<String>)> {
    let result = session
        .client
        .read_resource(ReadResourceRequestParams::new(uri))
        .await?;
    match result.contents.as_slice() {
        [
            ResourceContents::TextResourceContents {
                uri: got,
                mime_type,
                text,
                ..
            },
        ] => {
            anyhow::ensure!(got == uri, "{}: asked {uri}, got {got}", session.label);
            Ok((text.clone(), mime_type.clone()))
        }
        other => anyhow::bail!("{}: unexpected contents {other:?}", session.label),
    }
}

#[tokio::test]
async fn resources_and_the_template_are_listed() -> anyhow::Result<()> {
    for (wire, era) in setups() {
        let session = Session::open(StockServer::new(), wire, ScriptedClient::new(era)).await?;
        let label = &session.label;
        let resources = session.client.list_all_resources().await?;
        let uris: Vec<_> = resources.iter().map(|r| r.uri.as_str()).collect();
        assert_eq!(uris, ["stock://tickers", "stock://sectors"], "{label}");
        let templates = session.client.list_all_resource_templates().await?;
        let patterns: Vec<_> = templates.iter().map(|t| t.uri_template.as_str()).collect();
        assert_eq!(patterns, ["stock://{symbol}"], "{label}");
        session.close().await?;
    }
    Ok(())
}

#[tokio::test]
async fn reading_a_resource_gives_json() -> anyhow::Result<()> {
    for (wire, era) in setups() {
        let session = Session::open(StockServer::new(), wire, ScriptedClient::new(era)).await?;
        let label = &session.label;
        let (tickers, mime) = read(&session, "stock://tickers").await?;
        assert_eq!(mime.as_deref(), Some("application/json"), "{label}");
        let tickers: Value = serde_json::from_str(&tickers)?;
        assert_eq!(
            tickers,
            json!(["AAPL", "MSFT", "GOOGL", "AMZN", "TSLA", "META", "NVDA"]),
            "{label}"
        );
        let sectors: Value = serde_json::from_str(&read(&session, "stock://sectors").await?.0)?;
        assert_eq!(
            sectors,
            json!({
                "Communication Services": ["GOOGL", "META"],
                "Consumer Discretionary": ["AMZN", "TSLA"],
                "Technology": ["AAPL", "MSFT", "NVDA"]
            }),
            "{label}"
        );
        let nvda: Value = serde_json::from_str(&read(&session, "stock://nvda").await?.0)?;
        assert_eq!(
            nvda,
            json!({
                "symbol": "NVDA", "name": "NVIDIA Corporation", "sector": "Technology",
                "price": 485.1, "market_cap": 1.2e12, "pe_ratio": 65.7, "volume": 44_310_000,
                "week_52_low": 138.84, "week_52_high": 505.48
            }),
            "{label}"
        );
        session.close().await?;
    }
    Ok(())
}

#[tokio::test]
async fn an_unknown_resource_is_not_found() -> anyhow::Result<()> {
    for (wire, era) in setups() {
        let session = Session::open(StockServer::new(), wire, ScriptedClient::new(era)).await?;
        let label = &session.label;
        // rmcp maps resource-not-found to -32602 for 2026-07-28 peers (SEP-2164).
        let expected = match era {
            Era::Handshake => ErrorCode::RESOURCE_NOT_FOUND,
            Era::RoundTrip => ErrorCode::INVALID_PARAMS,
        };
        for uri in ["stock://XYZ", "weather://paris"] {
            let outcome = session
                .client
                .read_resource(ReadResourceRequestParams::new(uri))
                .await;
            let error = rpc_error(outcome)?;
            assert_eq!(error.code, expected, "{label}: {uri}");
            assert!(error.message.contains(uri), "{label}: {}", error.message);
            assert_eq!(error.data, Some(json!({"uri": uri})), "{label}");
        }
        session.close().await?;
    }
    Ok(())
}

async fn prompt_text(session: &Session, name: &str, args: Value) -> anyhow::Result<String> {
    let result = session
        .client
        .get_prompt(GetPromptRequestParams::new(name).with_arguments(object(args)))
        .await?;
    let texts: Vec<_> = result
        .messages
        .iter()
        .filter_map(|m| m.content.as_text().map(|t| t.text.clone()))
        .collect();
    anyhow::ensure!(texts.len() == 1, "{}: {result:?}", session.label);
    Ok(texts.concat())
}

fn price(cell: &str) -> anyhow::Result<f64> {
    Ok(cell.parse::<f64>()?)
}

#[tokio::test]
async fn the_analysis_prompt_summarises_the_history() -> anyhow::Result<()> {
    for (wire, era) in setups() {
        let session = Session::open(StockServer::new(), wire, ScriptedClient::new(era)).await?;
        let label = &session.label;
        for (period, args) in [
            ("3mo", json!({"symbol": "amzn", "period": "3mo"})),
            ("1mo", json!({"symbol": "AMZN"})),
        ] {
            let text = prompt_text(&session, "stock_analysis_prompt", args).await?;
            // Recompute the summary from the tool's CSV: both must tell the same story.
            let history = session
                .ok(
                    "get_stock_history",
                    json!({"symbol": "AMZN", "period": period}),
                )
                .await?;
            let csv = text_of(&history);
            let rows: Vec<Vec<&str>> = csv
                .lines()
                .skip(1)
                .map(|l| l.split(',').collect())
                .collect();
            let (first, last) = (&rows[0], &rows[rows.len() - 1]);
            let (start, end) = (price(first[4])?, price(last[4])?);
            let mut high = f64::MIN;
            let mut low = f64::MAX;
            for row in &rows {
                high = high.max(price(row[2])?);
                low = low.min(price(row[3])?);
            }
            let expected = format!(
                "- Start close: ${start:.2}\n- End close: ${end:.2}\n- Change: {:+.2}%\n\
                 - Period high: ${high:.2}\n- Period low: ${low:.2}",
                (end - start) / start * 100.0
            );
            assert!(
                text.contains(&expected),
                "{label}: {period}: {expected}\nnot in\n{text}"
            );
            let heading = format!(
                "Analyze Amazon.com, Inc. (AMZN, Consumer Discretionary sector) over the last \
                 {period} ({} trading days, {} to 2023-11-17).",
                rows.len(),
                first[0]
            );
            assert!(text.starts_with(&heading), "{label}: {text}");
            assert_eq!(end, 145.30, "{label}");
        }
        let month =
            prompt_text(&session, "stock_analysis_prompt", json!({"symbol": "AMZN"})).await?;
        assert!(
            month.contains("(21 trading days, 2023-10-20 to 2023-11-17)"),
            "{label}"
        );

        let error = rpc_error(
            session
                .client
                .get_prompt(
                    GetPromptRequestParams::new("stock_analysis_prompt")
                        .with_arguments(object(json!({"symbol": "AMZN", "period": "10y"}))),
                )
                .await,
        )?;
        assert_eq!(error.code, ErrorCode::INVALID_PARAMS, "{label}");
        assert!(
            error
                .message
                .contains("Valid periods: 1d, 5d, 1mo, 3mo, 6mo, 1y."),
            "{label}"
        );
        session.close().await?;
    }
    Ok(())
}

#[tokio::test]
async fn the_risk_prompt_reflects_the_tolerance_and_rejects_bad_input() -> anyhow::Result<()> {
    for (wire, era) in setups() {
        let session = Session::open(StockServer::new(), wire, ScriptedClient::new(era)).await?;
        let label = &session.label;
        let args = json!({"symbol": "tsla", "risk_tolerance": "Low"});
        let text = prompt_text(&session, "risk_assessment_prompt", args).await?;
        assert!(
            text.starts_with("Assess the risk of holding Tesla, Inc. (TSLA) for an investor with low risk tolerance."),
            "{label}: {text}"
        );
        assert!(
            text.contains("- Stock volatility class: high."),
            "{label}: {text}"
        );
        assert!(
            text.contains("suits a low risk tolerance"),
            "{label}: {text}"
        );
        assert!(
            text.contains("Largest peak-to-trough fall over the past year: "),
            "{label}"
        );

        for (args, hint) in [
            (
                json!({"symbol": "TSLA", "risk_tolerance": "yolo"}),
                "Valid values: low, medium, high.",
            ),
            (
                json!({"symbol": "XYZ", "risk_tolerance": "low"}),
                TICKER_LIST,
            ),
            (json!({"symbol": "TSLA"}), "missing field `risk_tolerance`"),
        ] {
            let outcome = session
                .client
                .get_prompt(
                    GetPromptRequestParams::new("risk_assessment_prompt")
                        .with_arguments(object(args)),
                )
                .await;
            let error = rpc_error(outcome)?;
            assert_eq!(error.code, ErrorCode::INVALID_PARAMS, "{label}");
            assert!(error.message.contains(hint), "{label}: {}", error.message);
        }
        session.close().await?;
    }
    Ok(())
}

#[tokio::test]
async fn completion_matches_prefixes_ignoring_case() -> anyhow::Result<()> {
    let cases = [
        (
            Reference::for_prompt("stock_analysis_prompt"),
            "symbol",
            "m",
            vec!["MSFT", "META"],
        ),
        (
            Reference::for_prompt("risk_assessment_prompt"),
            "symbol",
            "Am",
            vec!["AMZN"],
        ),
        (
            Reference::for_resource("stock://{symbol}"),
            "symbol",
            "n",
            vec!["NVDA"],
        ),
        (
            Reference::for_resource("stock://{symbol}"),
            "symbol",
            "",
            vec!["AAPL", "MSFT", "GOOGL", "AMZN", "TSLA", "META", "NVDA"],
        ),
        (
            Reference::for_prompt("stock_analysis_prompt"),
            "symbol",
            "q",
            vec![],
        ),
        (
            Reference::for_prompt("stock_analysis_prompt"),
            "period",
            "1",
            vec!["1d", "1mo", "1y"],
        ),
        (
            Reference::for_prompt("risk_assessment_prompt"),
            "risk_tolerance",
            "H",
            vec!["high"],
        ),
        (
            Reference::for_prompt("no_such_prompt"),
            "symbol",
            "a",
            vec![],
        ),
    ];
    for (wire, era) in setups() {
        let session = Session::open(StockServer::new(), wire, ScriptedClient::new(era)).await?;
        let label = &session.label;
        for (reference, argument, value, expected) in &cases {
            let request =
                CompleteRequestParams::new(reference.clone(), ArgumentInfo::new(*argument, *value));
            let result = session.client.complete(request).await?;
            assert_eq!(
                result.completion.values, *expected,
                "{label}: {argument}={value:?}"
            );
            assert_eq!(result.completion.has_more, Some(false), "{label}");
        }
        session.close().await?;
    }
    Ok(())
}
