//! The tools that ask: elicitation (`get_ticker_info`, `get_investment_advice`) and
//! sampling (`stock_headline_sampling`). Handshake-era clients are asked during the call;
//! 2026-07-28 clients get input-required results that rmcp's `call_tool` answers and retries.

use belay_servers::stock::StockServer;
use rmcp::model::ErrorCode;
use serde_json::json;

use crate::common::{ScriptedClient, Session, Succeeds as _, setups, text_of};

const AAPL_PROFILE: &str = "Apple Inc. (AAPL)\nSector: Technology\nPrice: $150.25\n\
                            Market cap: $2.35T\nP/E ratio: 24.8\nVolume: 52.3M";
const AAPL_RANGE: &str = "\n52-week range: $124.17 - $198.23";
const RANGE_QUESTION: &str = "Include the 52-week price range for AAPL?";

#[tokio::test]
async fn ticker_info_adds_the_range_only_when_the_person_asks_for_it() -> anyhow::Result<()> {
    for (wire, era) in setups() {
        // (person, expected text, questions the person saw)
        let cases = [
            (
                ScriptedClient::new(era).answering(json!({"include_week_range": true})),
                format!("{AAPL_PROFILE}{AAPL_RANGE}"),
                vec![RANGE_QUESTION],
            ),
            (
                ScriptedClient::new(era).answering(json!({"include_week_range": false})),
                AAPL_PROFILE.to_owned(),
                vec![RANGE_QUESTION],
            ),
            // Declines the form: not an error, just no range.
            (
                ScriptedClient::new(era),
                AAPL_PROFILE.to_owned(),
                vec![RANGE_QUESTION],
            ),
            // Cannot show forms: never asked, no range.
            (
                ScriptedClient::new(era).bare(),
                AAPL_PROFILE.to_owned(),
                vec![],
            ),
        ];
        for (person, expected, questions) in cases {
            let session = Session::open(StockServer::new(), wire, person.clone()).await?;
            let label = format!("{} answering {:?}", session.label, person.form_answer);
            let result = session
                .ok("get_ticker_info", json!({"symbol": "aapl"}))
                .await?;
            assert_eq!(text_of(&result), expected, "{label}");
            assert_eq!(person.questions(), questions, "{label}");
            session.close().await?;
        }
    }
    Ok(())
}

#[tokio::test]
async fn advice_is_personalised_from_one_form_with_two_enums() -> anyhow::Result<()> {
    let mut texts = Vec::new();
    for (wire, era) in setups() {
        let person = ScriptedClient::new(era)
            .answering(json!({"risk_level": "low", "time_horizon": "long"}));
        let session = Session::open(StockServer::new(), wire, person.clone()).await?;
        let label = &session.label;
        let result = session
            .ok("get_investment_advice", json!({"symbol": "TSLA"}))
            .await?;
        let text = text_of(&result);
        assert!(
            text.starts_with("Advice on Tesla, Inc. (TSLA) for a low-risk, long-term investor:\n"),
            "{label}: {text}"
        );
        for line in [
            "- Valuation: P/E 70.3, priced for strong growth; market cap 771.0B.",
            "- Momentum: $242.60 is 61% of the way up its 52-week range ($152.37 - $299.29), mid-range.",
            "- Volatility: high (about 3.5% on a typical day).",
            "Suggestion: TSLA is more volatile than your low risk tolerance allows",
            "dollar-cost averaging",
            "not financial advice",
        ] {
            assert!(text.contains(line), "{label}: missing {line:?} in {text}");
        }
        assert_eq!(
            person.questions(),
            ["To tailor advice on Tesla, Inc. (TSLA), what is your risk level and time horizon?"],
            "{label}"
        );
        texts.push(text);

        let bold = ScriptedClient::new(era)
            .answering(json!({"risk_level": "high", "time_horizon": "short"}));
        let session_bold = Session::open(StockServer::new(), wire, bold).await?;
        let nvda = session_bold
            .ok("get_investment_advice", json!({"symbol": "nvda"}))
            .await?;
        let nvda = text_of(&nvda);
        assert!(
            nvda.contains("NVDA matches your high risk tolerance"),
            "{label}: {nvda}"
        );
        assert!(
            nvda.contains("buying near the 52-week high"),
            "{label}: {nvda}"
        );
        session_bold.close().await?;
        session.close().await?;
    }
    texts.dedup();
    assert_eq!(
        texts.len(),
        1,
        "advice differs between wires or eras: {texts:?}"
    );
    Ok(())
}

#[tokio::test]
async fn declined_or_impossible_forms_give_general_advice() -> anyhow::Result<()> {
    for (wire, era) in setups() {
        let declining = ScriptedClient::new(era);
        let session = Session::open(StockServer::new(), wire, declining.clone()).await?;
        let label = session.label.clone();
        let declined = text_of(
            &session
                .ok("get_investment_advice", json!({"symbol": "MSFT"}))
                .await?,
        );
        session.close().await?;
        assert_eq!(
            declining.questions().len(),
            1,
            "{label}: the person was asked"
        );

        let session =
            Session::open(StockServer::new(), wire, ScriptedClient::new(era).bare()).await?;
        let bare = text_of(
            &session
                .ok("get_investment_advice", json!({"symbol": "MSFT"}))
                .await?,
        );
        session.close().await?;

        assert!(
            declined.starts_with(
                "General view on Microsoft Corporation (MSFT), not personalised (no risk profile was given):\n"
            ),
            "{label}: {declined}"
        );
        assert!(
            declined.contains("diversified portfolio"),
            "{label}: {declined}"
        );
        assert!(
            !declined.contains("risk tolerance allows"),
            "{label}: {declined}"
        );
        assert_eq!(
            bare, declined,
            "{label}: a bare client gets the same general advice"
        );
    }
    Ok(())
}

#[tokio::test]
async fn an_answer_outside_the_form_is_invalid_params() -> anyhow::Result<()> {
    for (wire, era) in setups() {
        let person = ScriptedClient::new(era)
            .answering(json!({"risk_level": "extreme", "time_horizon": "long"}));
        let session = Session::open(StockServer::new(), wire, person).await?;
        let label = &session.label;
        let outcome = session
            .call("get_investment_advice", json!({"symbol": "AAPL"}))
            .await;
        let error = super::rpc_error(outcome)?;
        assert_eq!(error.code, ErrorCode::INVALID_PARAMS, "{label}");
        assert!(
            error.message.contains("`profile`"),
            "{label}: {}",
            error.message
        );
        assert!(
            error.message.contains("extreme"),
            "{label}: {}",
            error.message
        );
        session.close().await?;
    }
    Ok(())
}

#[tokio::test]
async fn the_headline_comes_from_the_clients_model() -> anyhow::Result<()> {
    for (wire, era) in setups() {
        let mut person = ScriptedClient::new(era);
        person.headline = "Apple Steadies at $150 as Investors Weigh iPhone Demand".into();
        let session = Session::open(StockServer::new(), wire, person.clone()).await?;
        let label = &session.label;
        let result = session
            .ok("stock_headline_sampling", json!({"symbol": "AAPL"}))
            .await?;
        assert_eq!(
            text_of(&result),
            "Apple Steadies at $150 as Investors Weigh iPhone Demand",
            "{label}"
        );
        let prompts = person.questions();
        assert_eq!(prompts.len(), 1, "{label}: {prompts:?}");
        for fact in [
            "Apple Inc. (AAPL)",
            "price $150.25",
            "market cap 2.35T",
            "P/E 24.8",
        ] {
            assert!(
                prompts[0].contains(fact),
                "{label}: {fact:?} not in {}",
                prompts[0]
            );
        }
        session.close().await?;
    }
    Ok(())
}

#[tokio::test]
async fn without_sampling_the_headline_is_a_labelled_template() -> anyhow::Result<()> {
    for (wire, era) in setups() {
        let person = ScriptedClient::new(era).bare();
        let session = Session::open(StockServer::new(), wire, person.clone()).await?;
        let label = &session.label;
        let result = session
            .ok("stock_headline_sampling", json!({"symbol": "aapl"}))
            .await?;
        assert_eq!(
            text_of(&result),
            "[Template headline, not model-generated: this client does not support sampling]\n\
             Apple Inc. (AAPL) holds mid-range at $150.25 as 52.3M shares change hands",
            "{label}"
        );
        let nvda = session
            .ok("stock_headline_sampling", json!({"symbol": "NVDA"}))
            .await?;
        assert!(
            text_of(&nvda).ends_with("NVIDIA Corporation (NVDA) trades near its 52-week high at $485.10 as 44.3M shares change hands"),
            "{label}"
        );
        assert!(person.questions().is_empty(), "{label}");
        session.close().await?;
    }
    Ok(())
}

/// The first round of a 2026-07-28 call: the form itself, as the client receives it.
#[tokio::test]
async fn round_trip_clients_receive_the_forms_as_input_requests() -> anyhow::Result<()> {
    use rmcp::model::CallToolRequestParams;

    use crate::common::{Era, Wire, input_required, object};

    for wire in Wire::ALL {
        let session = Session::open(
            StockServer::new(),
            wire,
            ScriptedClient::new(Era::RoundTrip),
        )
        .await?;
        let label = &session.label;
        for (tool, key, field, title, expected) in [
            (
                "get_ticker_info",
                "week_range",
                "include_week_range",
                "Include the 52-week range",
                json!("boolean"),
            ),
            (
                "get_investment_advice",
                "profile",
                "risk_level",
                "Risk level",
                json!(["low", "medium", "high"]),
            ),
            (
                "get_investment_advice",
                "profile",
                "time_horizon",
                "Time horizon",
                json!(["short", "medium", "long"]),
            ),
        ] {
            let params =
                CallToolRequestParams::new(tool).with_arguments(object(json!({"symbol": "AAPL"})));
            let pending = input_required(&session.client, params)
                .await
                .map_err(|e| anyhow::anyhow!("{label}: {e}"))?;
            let requests = serde_json::to_value(pending.input_requests.unwrap_or_default())?;
            let schema = &requests[key]["params"]["requestedSchema"];
            let property = &schema["properties"][field];
            let got = if expected.is_array() {
                &property["enum"]
            } else {
                &property["type"]
            };
            assert_eq!(got, &expected, "{label}: {tool}: {requests}");
            assert_eq!(property["title"], title, "{label}: {tool}: {requests}");
            assert_eq!(schema["type"], "object", "{label}: {tool}");
            let message = requests[key]["params"]["message"]
                .as_str()
                .unwrap_or_default();
            assert!(message.contains("AAPL"), "{label}: {message}");
            assert!(
                pending.request_state.is_some_and(|s| !s.is_empty()),
                "{label}"
            );
        }
        session.close().await?;
    }
    Ok(())
}
