//! `belay chat` and the person: sampling approved, refused or edited before it reaches the
//! model, elicitation answered through the form. The same binary, servers and scripted
//! model as `chat.rs`.

use crate::chat::{chat, tool_messages, tool_names};
use crate::model_script::{Reply, ScriptedModel};

#[tokio::test]
async fn sampling_is_answered_by_the_model_once_approved() -> anyhow::Result<()> {
    let model = ScriptedModel::start(vec![
        Reply::Calls(vec![(
            "call_1",
            "stock_headline_sampling",
            r#"{"symbol":"AAPL"}"#,
        )]),
        // The server's sampling request, answered by the same model.
        Reply::Text("Apple Rallies Into The Weekend"),
        Reply::Text("Headline: Apple Rallies Into The Weekend"),
    ])
    .await?;
    let run = chat(
        &[
            "stock",
            "--base-url",
            &model.base_url,
            "--json",
            "--approve-sampling",
            "--model",
            "big-model",
            "--sampling-model",
            "small-mini",
            "--sampling-model",
            "big-model",
            "--prompt",
            "A headline for AAPL",
        ],
        "",
    )
    .await?;
    assert!(run.success, "{}", run.stderr);
    let requests = model.requests();
    assert_eq!(requests.len(), 3);
    // The turn asks the configured model; the server's sampling request, hinting at a
    // "mini" model, is answered by the listed model that matches.
    assert_eq!(requests[0]["model"], "big-model");
    assert_eq!(requests[1]["model"], "small-mini");
    assert_eq!(requests[2]["model"], "big-model");
    // The sampling request: the server's system prompt and limit, no tools.
    let sampling = &requests[1];
    assert!(
        sampling["messages"][0]["content"]
            .as_str()
            .unwrap_or_default()
            .contains("financial news editor"),
        "{sampling}"
    );
    assert_eq!(sampling["max_completion_tokens"], 60);
    assert!(tool_names(sampling).is_empty());
    assert_eq!(
        tool_messages(&requests[2]),
        [(
            "call_1".to_owned(),
            "Apple Rallies Into The Weekend".to_owned()
        )]
    );
    let transcript = run.transcript()?;
    let sampled = &transcript["turns"][0]["samplings"][0];
    assert_eq!(sampled["server"], "stock");
    assert_eq!(sampled["answer"], "Apple Rallies Into The Weekend");
    Ok(())
}

#[tokio::test]
async fn a_refused_sampling_request_never_reaches_the_model() -> anyhow::Result<()> {
    let model = ScriptedModel::start(vec![
        Reply::Calls(vec![(
            "call_1",
            "stock_headline_sampling",
            r#"{"symbol":"AAPL"}"#,
        )]),
        Reply::Text("The server could not get a headline."),
    ])
    .await?;
    // The person answers "n" to the approval question.
    let run = chat(
        &[
            "stock",
            "--base-url",
            &model.base_url,
            "--json",
            "--prompt",
            "A headline",
        ],
        "n\n",
    )
    .await?;
    assert!(run.success, "{}", run.stderr);
    assert!(
        run.stderr.contains("asks your model to write"),
        "{}",
        run.stderr
    );
    let requests = model.requests();
    assert_eq!(
        requests.len(),
        2,
        "the sampling request went to the model: {requests:?}"
    );
    let transcript = run.transcript()?;
    assert_eq!(
        transcript["turns"][0]["samplings"][0]["error"],
        "the person refused the sampling request"
    );
    Ok(())
}

#[tokio::test]
async fn elicitation_is_answered_through_the_form() -> anyhow::Result<()> {
    let model = ScriptedModel::start(vec![
        Reply::Calls(vec![(
            "call_1",
            "get_investment_advice",
            r#"{"symbol":"TSLA"}"#,
        )]),
        Reply::Text("done"),
    ])
    .await?;
    // Answer the form; a wrong risk level first, which is asked again.
    let run = chat(
        &[
            "stock",
            "--base-url",
            &model.base_url,
            "--json",
            "--prompt",
            "Advice on TSLA",
        ],
        "a\nextreme\nlow\n3\n",
    )
    .await?;
    assert!(run.success, "{}", run.stderr);
    assert!(run.stderr.contains("expected one of"), "{}", run.stderr);
    let results = tool_messages(&model.requests()[1]);
    assert!(results[0].1.contains("low risk tolerance"), "{results:?}");
    Ok(())
}

#[tokio::test]
async fn the_person_can_edit_what_a_server_asks_the_model() -> anyhow::Result<()> {
    let model = ScriptedModel::start(vec![
        Reply::Calls(vec![(
            "call_1",
            "stock_headline_sampling",
            r#"{"symbol":"AAPL"}"#,
        )]),
        Reply::Text("Bananas Up"),
        Reply::Text("done"),
    ])
    .await?;
    let run = chat(
        &[
            "stock",
            "--base-url",
            &model.base_url,
            "--prompt",
            "A headline",
        ],
        "e\nWrite a headline about bananas\n",
    )
    .await?;
    assert!(run.success, "{}", run.stderr);
    let sampling = &model.requests()[1];
    let messages = sampling["messages"].as_array().cloned().unwrap_or_default();
    assert_eq!(messages.len(), 2, "{sampling}");
    assert!(
        messages[0]["content"]
            .as_str()
            .unwrap_or_default()
            .contains("financial news editor")
    );
    assert_eq!(messages[1]["content"], "Write a headline about bananas");
    assert_eq!(tool_messages(&model.requests()[2])[0].1, "Bananas Up");
    Ok(())
}

#[tokio::test]
async fn include_context_shares_what_the_server_may_see() -> anyhow::Result<()> {
    let fixture = crate::url_fixture::UrlFixture::start().await?;
    let model = ScriptedModel::start(vec![
        Reply::Calls(vec![
            ("c1", "get_stock_price", r#"{"symbol":"AAPL"}"#),
            ("c2", "recap", r#"{"scope":"thisServer"}"#),
        ]),
        Reply::Text("A recap of its own calls"),
        Reply::Calls(vec![("c3", "recap", r#"{"scope":"allServers"}"#)]),
        Reply::Text("A recap of everything"),
        Reply::Text("done"),
    ])
    .await?;
    let run = chat(
        &[
            "stock",
            &fixture.url,
            "--base-url",
            &model.base_url,
            "--approve-sampling",
            "--json",
            "--prompt",
            "Apple's price, then a recap",
        ],
        "",
    )
    .await?;
    assert!(run.success, "{}", run.stderr);
    let requests = model.requests();
    assert_eq!(requests.len(), 5, "{requests:?}");
    let context = |request: &serde_json::Value| {
        request["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["content"].as_str())
            .find(|c| c.starts_with("The conversation so far:"))
            .unwrap_or_default()
            .to_owned()
    };
    // thisServer: the person's words and the server's own call, not the stock price.
    let own = context(&requests[1]);
    assert!(own.contains("user: Apple's price, then a recap"), "{own}");
    assert!(own.contains("called 127.0.0.1.recap("), "{own}");
    assert!(
        !own.contains("150.25") && !own.contains("get_stock_price"),
        "{own}"
    );
    // allServers: the other server's call and result too.
    let all = context(&requests[3]);
    assert!(all.contains("stock.get_stock_price → 150.25"), "{all}");
    let results = tool_messages(&requests[2]);
    assert_eq!(results[1].1, "A recap of its own calls", "{results:?}");
    Ok(())
}
