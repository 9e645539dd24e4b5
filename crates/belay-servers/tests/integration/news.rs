//! The news server through real rmcp clients: over a pipe and over HTTP, in both eras.

use anyhow::Context as _;
use belay_servers::news::{
    CATEGORIES, COUNTRIES, Headlines, MAX_RESULTS, NewsServer, SearchResults,
};
use serde_json::json;

use crate::common::{
    ScriptedClient, Session, decode, open_all, text_of, tool_error, tools_with_outputs,
};

/// Every transport and era at once, so each test covers all four.
async fn connect_all() -> anyhow::Result<Vec<Session>> {
    Ok(open_all(NewsServer::new(), ScriptedClient::new).await?)
}

#[tokio::test]
async fn tools_are_listed_with_output_schemas() -> anyhow::Result<()> {
    for conn in connect_all().await? {
        let tools = tools_with_outputs(
            &conn,
            &[("get_headlines", "articles"), ("search_news", "results")],
        )
        .await?;
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
        let result = conn.call("get_headlines", json!({})).await?;
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
        let headlines = decode::<Headlines>(&conn.call("get_headlines", args).await?)?;
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
        let only_country = conn
            .call("get_headlines", json!({ "country": "jp" }))
            .await?;
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
                let headlines = decode::<Headlines>(&conn.call("get_headlines", args).await?)?;
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
        let result = conn
            .call("get_headlines", json!({ "category": "politics" }))
            .await?;
        assert_eq!(
            tool_error(&result),
            "unknown category `politics`; valid categories: business, technology, sports, \
             health, science, entertainment"
        );
        let result = conn
            .call("get_headlines", json!({ "country": "br" }))
            .await?;
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
            let result = conn.call("search_news", json!({ "query": query })).await?;
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
            &conn
                .call("search_news", json!({"query": "Mars rover"}))
                .await?,
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
        let none = conn.call("search_news", json!({ "query": "batt" })).await?;
        let found = decode::<SearchResults>(&none)?;
        assert_eq!((found.total, found.results.len()), (0, 0));
        assert_eq!(text_of(&none), "No articles match \"batt\".");

        let many = conn
            .call("search_news", json!({ "query": "fictional mock" }))
            .await?;
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
            let result = conn.call("search_news", json!({ "query": query })).await?;
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
