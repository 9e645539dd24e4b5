//! The stock tools that need no input from the person: quotes, history, comparison,
//! portfolio, and how bad input is reported.

use belay_servers::stock::StockServer;
use rmcp::model::ErrorCode;
use serde_json::{Value, json};

use super::TICKER_LIST;
use crate::common::{ScriptedClient, Session, Succeeds as _, setups, text_of};

/// AAPL's last five trading days. A golden copy: the generator must not drift.
const AAPL_5D: &str = "Date,Open,High,Low,Close,Volume
2023-11-13,147.26,149.81,146.02,149.11,51432439
2023-11-14,148.50,149.79,148.25,149.32,54145464
2023-11-15,148.93,150.66,148.19,150.29,31984569
2023-11-16,149.95,150.15,147.55,148.53,59637082
2023-11-17,148.00,151.47,147.49,150.25,71034108
";

#[tokio::test]
async fn the_price_is_a_number_in_text_and_structure() -> anyhow::Result<()> {
    for (wire, era) in setups() {
        let session = Session::open(StockServer::new(), wire, ScriptedClient::new(era)).await?;
        let label = &session.label;
        let result = session
            .ok("get_stock_price", json!({"symbol": " aapl"}))
            .await?;
        assert_eq!(text_of(&result), "150.25", "{label}");
        assert_eq!(
            result.structured_content,
            Some(json!({"symbol": "AAPL", "price": 150.25})),
            "{label}"
        );
        let nvda = session
            .ok("get_stock_price", json!({"symbol": "NVDA"}))
            .await?;
        assert_eq!(text_of(&nvda), "485.10", "{label}");
        session.close().await?;
    }
    Ok(())
}

#[tokio::test]
async fn an_unknown_ticker_is_a_tool_error_listing_the_valid_ones() -> anyhow::Result<()> {
    let calls = [
        ("get_stock_price", json!({"symbol": "XYZ"})),
        (
            "get_stock_history",
            json!({"symbol": "xyz", "period": "5d"}),
        ),
        (
            "compare_stock_prices",
            json!({"symbol1": "AAPL", "symbol2": "XYZ"}),
        ),
        ("get_ticker_info", json!({"symbol": "XYZ"})),
        ("stock_headline_sampling", json!({"symbol": "XYZ"})),
        ("calculate_portfolio_value", json!({"holdings": {"XYZ": 1}})),
        ("get_investment_advice", json!({"symbol": "XYZ"})),
    ];
    for (wire, era) in setups() {
        // A capable person: an unknown ticker must fail before anyone is asked anything.
        let person = ScriptedClient::new(era).answering(json!({"include_week_range": true}));
        let session = Session::open(StockServer::new(), wire, person.clone()).await?;
        let label = &session.label;
        for (tool, args) in &calls {
            let result = session.call(tool, args.clone()).await?;
            assert_eq!(result.is_error, Some(true), "{label}: {tool}");
            let text = text_of(&result);
            assert!(
                text.starts_with("Unknown ticker \"XYZ\"."),
                "{label}: {tool}: {text}"
            );
            assert!(text.ends_with(TICKER_LIST), "{label}: {tool}: {text}");
        }
        assert_eq!(person.questions(), Vec::<String>::new(), "{label}");
        let both = session
            .call(
                "compare_stock_prices",
                json!({"symbol1": "foo", "symbol2": "bar"}),
            )
            .await?;
        assert_eq!(
            text_of(&both),
            format!("Unknown tickers \"FOO\", \"BAR\". {TICKER_LIST}"),
            "{label}"
        );
        session.close().await?;
    }
    Ok(())
}

#[tokio::test]
async fn comparison_says_which_is_higher_and_by_how_much() -> anyhow::Result<()> {
    for (wire, era) in setups() {
        let session = Session::open(StockServer::new(), wire, ScriptedClient::new(era)).await?;
        let label = &session.label;
        let result = session
            .ok(
                "compare_stock_prices",
                json!({"symbol1": "aapl", "symbol2": "MSFT"}),
            )
            .await?;
        assert_eq!(
            text_of(&result),
            "AAPL ($150.25) vs MSFT ($380.50): MSFT is 153.2% higher than AAPL",
            "{label}"
        );
        assert_eq!(
            result.structured_content,
            Some(json!({
                "symbol1": "AAPL", "price1": 150.25,
                "symbol2": "MSFT", "price2": 380.5,
                "higher": "MSFT", "difference": 230.25, "percent_higher": 153.24
            })),
            "{label}"
        );
        let reversed = session
            .ok(
                "compare_stock_prices",
                json!({"symbol1": "NVDA", "symbol2": "TSLA"}),
            )
            .await?;
        assert_eq!(
            text_of(&reversed),
            "NVDA ($485.10) vs TSLA ($242.60): NVDA is 100.0% higher than TSLA",
            "{label}"
        );
        let same = session
            .ok(
                "compare_stock_prices",
                json!({"symbol1": "META", "symbol2": "meta"}),
            )
            .await?;
        assert_eq!(
            text_of(&same),
            "META ($335.20) vs META ($335.20): both trade at the same price",
            "{label}"
        );
        let structured = same.structured_content.unwrap_or_default();
        assert_eq!(structured["higher"], Value::Null, "{label}");
        assert_eq!(structured["percent_higher"], 0.0, "{label}");
        session.close().await?;
    }
    Ok(())
}

/// The CSV's data rows (header checked and dropped).
fn rows(csv: &str) -> anyhow::Result<Vec<&str>> {
    let mut lines = csv.lines();
    anyhow::ensure!(
        lines.next() == Some("Date,Open,High,Low,Close,Volume"),
        "bad header in {csv}"
    );
    Ok(lines.collect())
}

#[tokio::test]
async fn history_has_a_fixed_row_count_per_period_and_never_changes() -> anyhow::Result<()> {
    let periods = [
        ("1d", 1),
        ("5d", 5),
        ("1mo", 21),
        ("3mo", 63),
        ("6mo", 126),
        ("1y", 252),
    ];
    let mut first_csvs: Option<Vec<String>> = None;
    for (wire, era) in setups() {
        let session = Session::open(StockServer::new(), wire, ScriptedClient::new(era)).await?;
        let label = session.label.clone();
        let mut csvs = Vec::new();
        for (period, count) in periods {
            let result = session
                .ok(
                    "get_stock_history",
                    json!({"symbol": "tsla", "period": period}),
                )
                .await?;
            let csv = text_of(&result);
            let rows = rows(&csv)?;
            assert_eq!(rows.len(), count, "{label}: {period}");
            let last: Vec<_> = rows[count - 1].split(',').collect();
            assert_eq!(last[0], "2023-11-17", "{label}: {period}");
            assert_eq!(
                last[4], "242.60",
                "{label}: {period}: last close is the price"
            );
            csvs.push(csv);
        }
        // Every period is the tail of the year: one walk, not one per period.
        let year = rows(&csvs[5])?;
        for (csv, (period, count)) in csvs.iter().zip(periods) {
            assert_eq!(rows(csv)?, year[252 - count..], "{label}: {period}");
        }
        assert!(year[0].starts_with("2022-12-01,"), "{label}: {}", year[0]);
        assert!(rows(&csvs[2])?[0].starts_with("2023-10-20,"), "{label}");

        let default = session
            .ok("get_stock_history", json!({"symbol": "TSLA"}))
            .await?;
        assert_eq!(
            text_of(&default),
            csvs[2],
            "{label}: the default period is 1mo"
        );
        let aapl = session
            .ok(
                "get_stock_history",
                json!({"symbol": "AAPL", "period": "5D"}),
            )
            .await?;
        assert_eq!(text_of(&aapl), AAPL_5D, "{label}");
        match &first_csvs {
            None => first_csvs = Some(csvs),
            Some(first) => assert_eq!(&csvs, first, "{label}: history differs between sessions"),
        }
        session.close().await?;
    }
    Ok(())
}

/// The mock data ends on a fixed day: the descriptions of the price and the history must
/// name the day the history really ends on, and not promise today's prices.
#[tokio::test]
async fn descriptions_name_the_day_the_data_ends() -> anyhow::Result<()> {
    let (wire, era) = setups()[0];
    let session = Session::open(StockServer::new(), wire, ScriptedClient::new(era)).await?;
    let last_day = session
        .ok(
            "get_stock_history",
            json!({"symbol": "AAPL", "period": "1d"}),
        )
        .await
        .map(|result| text_of(&result))?;
    let last_day = rows(&last_day)?[0]
        .split(',')
        .next()
        .unwrap_or_default()
        .to_owned();
    let tools = session.client.list_all_tools().await?;
    for name in ["get_stock_price", "get_stock_history"] {
        let description = tools
            .iter()
            .find(|t| t.name == name)
            .and_then(|t| t.description.as_deref())
            .unwrap_or_default()
            .to_ascii_lowercase();
        assert!(
            description.contains(&last_day),
            "{name} does not name {last_day}: {description}"
        );
        for claim in ["today", "current", "live"] {
            assert!(
                !description.contains(claim),
                "{name} says {claim}: {description}"
            );
        }
    }
    session.close().await?;
    Ok(())
}

#[tokio::test]
async fn an_unknown_period_lists_the_valid_ones() -> anyhow::Result<()> {
    for (wire, era) in setups() {
        let session = Session::open(StockServer::new(), wire, ScriptedClient::new(era)).await?;
        let label = &session.label;
        let result = session
            .call(
                "get_stock_history",
                json!({"symbol": "AAPL", "period": "2w"}),
            )
            .await?;
        assert_eq!(result.is_error, Some(true), "{label}");
        assert_eq!(
            text_of(&result),
            "Unknown period \"2w\". Valid periods: 1d, 5d, 1mo, 3mo, 6mo, 1y.",
            "{label}"
        );
        session.close().await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_portfolio_is_valued_per_holding_and_in_total() -> anyhow::Result<()> {
    for (wire, era) in setups() {
        let session = Session::open(StockServer::new(), wire, ScriptedClient::new(era)).await?;
        let label = &session.label;
        let holdings = json!({"holdings": {"nvda": 1, "AAPL": 10, "msft": 2.5}});
        let result = session.ok("calculate_portfolio_value", holdings).await?;
        assert_eq!(
            text_of(&result),
            "AAPL: 10 x $150.25 = $1,502.50\nMSFT: 2.5 x $380.50 = $951.25\n\
             NVDA: 1 x $485.10 = $485.10\nTotal: $2,938.85",
            "{label}"
        );
        assert_eq!(
            result.structured_content,
            Some(json!({
                "holdings": [
                    {"symbol": "AAPL", "shares": 10.0, "price": 150.25, "value": 1502.5},
                    {"symbol": "MSFT", "shares": 2.5, "price": 380.5, "value": 951.25},
                    {"symbol": "NVDA", "shares": 1.0, "price": 485.1, "value": 485.1},
                ],
                "total_value": 2938.85
            })),
            "{label}"
        );
        let empty = session
            .ok("calculate_portfolio_value", json!({"holdings": {}}))
            .await?;
        assert_eq!(text_of(&empty), "Total: $0.00", "{label}");

        let bad = json!({"holdings": {"XYZ": 1, "TSLA": -2, "abc": 3, "META": 1}});
        let result = session.call("calculate_portfolio_value", bad).await?;
        assert_eq!(result.is_error, Some(true), "{label}");
        assert_eq!(
            text_of(&result),
            format!(
                "Unknown tickers \"XYZ\", \"ABC\". {TICKER_LIST}\n\
                 Share counts must be finite and not negative: TSLA (-2)."
            ),
            "{label}"
        );
        session.close().await?;
    }
    Ok(())
}

/// rmcp 3.11 reports arguments that do not deserialize as a tool error (`isError`, so the
/// model can correct itself, as the 2025-11-25 spec asks), not as JSON-RPC -32602.
#[tokio::test]
async fn malformed_arguments_are_tool_errors_that_say_what_is_wrong() -> anyhow::Result<()> {
    let cases = [
        (
            "get_stock_price",
            json!({"symbol": 42}),
            "invalid type: integer `42`, expected a string",
        ),
        ("get_stock_price", json!({}), "missing field `symbol`"),
        (
            "compare_stock_prices",
            json!({"symbol1": "AAPL"}),
            "missing field `symbol2`",
        ),
        (
            "calculate_portfolio_value",
            json!({"holdings": {"AAPL": "ten"}}),
            "argument `holdings.AAPL`: invalid type: string \"ten\", expected f64",
        ),
        (
            "calculate_portfolio_value",
            json!({"holdings": [1]}),
            "argument `holdings`: invalid type: sequence, expected a map",
        ),
        (
            "get_ticker_info",
            json!({"symbol": ["AAPL"]}),
            "argument `symbol`: invalid type: sequence, expected a string",
        ),
    ];
    for (wire, era) in setups() {
        // A capable person: the form must not be shown for a call that cannot run.
        let person = ScriptedClient::new(era).answering(json!({"include_week_range": true}));
        let session = Session::open(StockServer::new(), wire, person.clone()).await?;
        let label = &session.label;
        for (tool, args, hint) in &cases {
            let result = session.call(tool, args.clone()).await?;
            assert_eq!(result.is_error, Some(true), "{label}: {tool} {args}");
            let text = text_of(&result);
            assert!(
                text.starts_with("failed to deserialize parameters: ")
                    && text.ends_with("; see the tool's inputSchema"),
                "{label}: {text}"
            );
            assert!(text.contains(hint), "{label}: {tool}: {text}");
        }
        assert!(person.questions().is_empty(), "{label}");
        let unknown_tool = super::rpc_error(session.call("get_stock_quote", json!({})).await)?;
        assert_eq!(unknown_tool.code, ErrorCode::INVALID_PARAMS, "{label}");
        session.close().await?;
    }
    Ok(())
}
