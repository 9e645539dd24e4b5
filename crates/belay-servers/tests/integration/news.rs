//! The news server through real rmcp clients: over a pipe and over HTTP, in both eras.

use anyhow::Context as _;
use belay_servers::news::{
    CATEGORIES, COUNTRIES, Headlines, MAX_RESULTS, NewsServer, SearchResults,
};
use rmcp::model::{CallToolRequestParams, CallToolResult};
use serde_json::{Value, json};
use tokio_util::sync::DropGuard;

use crate::common::{Client, Era, ScriptedClient, over_http, over_pipe, text_of};

/// One connected client; dropping it stops its HTTP server, if any.
struct Conn {
    label: String,
    client: Client,
    _stop: Option<DropGuard>,
}

/// Every transport and era at once, so each test covers all four.
async fn connect_all() -> anyhow::Result<Vec<Conn>> {
    let server = NewsServer::new();
    let mut conns = Vec::new();
    for era in Era::BOTH {
        let client = over_pipe(server.clone(), ScriptedClient::new(era)).await?;
        conns.push(Conn {
            label: format!("pipe/{era:?}"),
            client,
            _stop: None,
        });
        let (client, stop) = over_http(server.clone(), ScriptedClient::new(era)).await?;
        conns.push(Conn {
            label: format!("http/{era:?}"),
            client,
            _stop: Some(stop.drop_guard()),
        });
    }
    Ok(conns)
}

async fn call(conn: &Conn, tool: &'static str, args: Value) -> anyhow::Result<CallToolResult> {
    let Value::Object(args) = args else {
        anyhow::bail!("arguments must be an object");
    };
    let params = CallToolRequestParams::new(tool).with_arguments(args);
    conn.client
        .call_tool(params)
        .await
        .with_context(|| format!("{tool} on {}", conn.label))
}

fn decode<T: serde::de::DeserializeOwned>(result: &CallToolResult) -> anyhow::Result<T> {
    assert_ne!(
        result.is_error,
        Some(true),
        "unexpected error: {}",
        text_of(result)
    );
    let value = result
        .structured_content
        .clone()
        .context("no structuredContent")?;
    Ok(serde_json::from_value(value)?)
}

fn tool_error(result: &CallToolResult) -> String {
    assert_eq!(result.is_error, Some(true), "expected isError: {result:?}");
    assert_eq!(result.structured_content, None);
    text_of(result)
}

#[tokio::test]
async fn tools_are_listed_with_output_schemas() -> anyhow::Result<()> {
    for conn in connect_all().await? {
        let tools = conn.client.list_all_tools().await?;
        let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        names.sort_unstable();
        assert_eq!(names, ["get_headlines", "search_news"], "{}", conn.label);
        for (tool, field) in [("get_headlines", "articles"), ("search_news", "results")] {
            let tool = tools
                .iter()
                .find(|t| t.name == tool)
                .context("tool listed")?;
            let schema = tool.output_schema.as_ref().context("output schema")?;
            assert!(
                schema["properties"].get(field).is_some(),
                "{}: {schema:?}",
                conn.label
            );
        }
        let headlines = tools
            .iter()
            .find(|t| t.name == "get_headlines")
            .context("listed")?;
        // Both arguments are optional, so a bare call is valid.
        assert_eq!(
            headlines.input_schema.get("required"),
            None,
            "{:?}",
            headlines.input_schema
        );
    }
    Ok(())
}

#[tokio::test]
async fn headlines_default_to_technology_in_the_us() -> anyhow::Result<()> {
    for conn in connect_all().await? {
        let result = call(&conn, "get_headlines", json!({})).await?;
        let headlines = decode::<Headlines>(&result)?;
        assert_eq!(
            (headlines.category.as_str(), headlines.country.as_str()),
            ("technology", "us")
        );
        let titles: Vec<(&str, &str)> = headlines
            .articles
            .iter()
            .map(|a| (a.published.as_str(), a.title.as_str()))
            .collect();
        assert_eq!(
            titles,
            [
                (
                    "2025-06-12",
                    "Fictional startup unveils battery that charges in ninety seconds"
                ),
                (
                    "2025-06-10",
                    "Open-source AI model tops mock coding benchmark"
                ),
                (
                    "2025-06-03",
                    "Chipmaker Quartzline announces new factory in Ohio"
                ),
                (
                    "2025-05-30",
                    "Smart thermostat maker recalls units over mock software bug"
                ),
            ],
            "{}",
            conn.label
        );
        let first = &headlines.articles[0];
        assert_eq!(first.source, "The Example Herald");
        assert_eq!(
            first.url,
            "https://example.com/news/us/fictional-startup-unveils-battery-that-charges-in-ninety-seconds"
        );
        let text = text_of(&result);
        assert!(
            text.starts_with("Technology headlines for United States (us):\n1. Fictional startup"),
            "{text}"
        );
        assert!(text.contains("\n4. Smart thermostat maker"), "{text}");
    }
    Ok(())
}

#[tokio::test]
async fn headlines_filter_by_category_and_country_in_any_case() -> anyhow::Result<()> {
    for conn in connect_all().await? {
        let args = json!({ "category": " SPORTS", "country": "GB" });
        let headlines = decode::<Headlines>(&call(&conn, "get_headlines", args).await?)?;
        assert_eq!(
            (headlines.category.as_str(), headlines.country.as_str()),
            ("sports", "gb")
        );
        let titles: Vec<&str> = headlines
            .articles
            .iter()
            .map(|a| a.title.as_str())
            .collect();
        assert_eq!(
            titles,
            [
                "Underdog football club earns promotion on final day",
                "Qualifier stuns top seed at fictional grass-court tennis event",
            ]
        );
        let only_country = call(&conn, "get_headlines", json!({ "country": "jp" })).await?;
        let jp = decode::<Headlines>(&only_country)?;
        assert_eq!(jp.category, "technology");
        assert_eq!(jp.articles.len(), 1);
        assert_eq!(
            jp.articles[0].title,
            "Tokyo firm shows foldable e-reader with paper-like screen"
        );
    }
    Ok(())
}

#[tokio::test]
async fn every_valid_pair_has_matching_headlines() -> anyhow::Result<()> {
    let conns = connect_all().await?;
    for conn in &conns {
        for category in CATEGORIES {
            for (country, _) in COUNTRIES {
                let args = json!({ "category": category, "country": country });
                let headlines = decode::<Headlines>(&call(conn, "get_headlines", args).await?)?;
                assert!(!headlines.articles.is_empty(), "{category}/{country}");
                assert!(
                    headlines
                        .articles
                        .iter()
                        .all(|a| a.category == *category && a.country == *country),
                    "{headlines:?}"
                );
                let dates: Vec<&str> = headlines
                    .articles
                    .iter()
                    .map(|a| a.published.as_str())
                    .collect();
                assert!(
                    dates.windows(2).all(|w| w[0] >= w[1]),
                    "not newest first: {dates:?}"
                );
            }
        }
    }
    Ok(())
}

#[tokio::test]
async fn unknown_category_or_country_lists_valid_values() -> anyhow::Result<()> {
    for conn in connect_all().await? {
        let result = call(&conn, "get_headlines", json!({ "category": "politics" })).await?;
        assert_eq!(
            tool_error(&result),
            "unknown category `politics`; valid categories: business, technology, sports, \
             health, science, entertainment"
        );
        let result = call(&conn, "get_headlines", json!({ "country": "br" })).await?;
        assert_eq!(
            tool_error(&result),
            "unknown country `br`; valid countries: us (United States), gb (United Kingdom), \
             de (Germany), fr (France), in (India), jp (Japan)"
        );
    }
    Ok(())
}

#[tokio::test]
async fn search_ranks_by_matching_words() -> anyhow::Result<()> {
    for conn in connect_all().await? {
        for query in ["battery", "BATTERY!"] {
            let result = call(&conn, "search_news", json!({ "query": query })).await?;
            let found = decode::<SearchResults>(&result)?;
            assert_eq!(found.query, query);
            let ranked: Vec<(u32, &str)> = found
                .results
                .iter()
                .map(|h| (h.matches, h.article.title.as_str()))
                .collect();
            assert_eq!(
                ranked,
                [
                    (
                        3,
                        "Fictional startup unveils battery that charges in ninety seconds"
                    ),
                    (2, "Researchers recycle battery metals with bacteria"),
                    (
                        1,
                        "Carmaker Autowerk Beispiel raises electric vehicle targets"
                    ),
                ],
                "{}",
                conn.label
            );
            assert_eq!(found.total, 3);
            let text = text_of(&result);
            assert!(
                text.starts_with(&format!(
                    "3 articles match \"{query}\":\n1. Fictional startup"
                )),
                "{text}"
            );
        }
        let found = decode::<SearchResults>(
            &call(&conn, "search_news", json!({"query": "Mars rover"})).await?,
        )?;
        let ranked: Vec<(u32, &str)> = found
            .results
            .iter()
            .map(|h| (h.matches, h.article.category.as_str()))
            .collect();
        assert_eq!(ranked, [(4, "science"), (1, "entertainment")]);
    }
    Ok(())
}

#[tokio::test]
async fn search_matches_whole_words_and_caps_results() -> anyhow::Result<()> {
    for conn in connect_all().await? {
        let none = call(&conn, "search_news", json!({ "query": "batt" })).await?;
        let found = decode::<SearchResults>(&none)?;
        assert_eq!((found.total, found.results.len()), (0, 0));
        assert_eq!(text_of(&none), "No articles match \"batt\".");

        let many = call(&conn, "search_news", json!({ "query": "fictional mock" })).await?;
        let found = decode::<SearchResults>(&many)?;
        assert!(found.total > MAX_RESULTS, "only {} matches", found.total);
        assert_eq!(found.results.len(), MAX_RESULTS);
        let scores: Vec<u32> = found.results.iter().map(|h| h.matches).collect();
        assert!(
            scores.windows(2).all(|w| w[0] >= w[1]),
            "not ranked: {scores:?}"
        );
        let head = format!(
            "{} articles match \"fictional mock\"; the best 10:",
            found.total
        );
        assert!(text_of(&many).starts_with(&head), "{}", text_of(&many));
    }
    Ok(())
}

#[tokio::test]
async fn empty_queries_are_tool_errors() -> anyhow::Result<()> {
    for conn in connect_all().await? {
        for query in ["", "   ", " ,;-! "] {
            let result = call(&conn, "search_news", json!({ "query": query })).await?;
            assert_eq!(
                tool_error(&result),
                "query must contain at least one word (letters or digits)",
                "{}: {query:?}",
                conn.label
            );
        }
    }
    Ok(())
}
