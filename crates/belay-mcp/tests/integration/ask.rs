//! `Ask` gives the same answers to handshake-era and round-trip-era clients.

use belay_mcp::testkit::{
    Era, ScriptedClient, Session, Wire, input_required, over_pipe, question_keys, text_of,
};
use rmcp::model::CallToolRequestParams;
use serde_json::json;

use crate::probe::Probe;

/// The text `confirm` returns to `person` over `wire`.
async fn confirm(wire: Wire, person: ScriptedClient) -> anyhow::Result<String> {
    let session = Session::open(Probe::new(), wire, person).await?;
    let result = session.call("confirm", json!({})).await?;
    session.close().await?;
    Ok(text_of(&result))
}

#[tokio::test]
async fn elicitation_and_sampling_are_answered_in_both_eras() -> anyhow::Result<()> {
    for era in Era::BOTH {
        let person = ScriptedClient::new(era).answering(json!({"proceed": true}));
        let text = confirm(Wire::Pipe, person.clone()).await?;
        assert_eq!(text, "proceed=true; Scripted headline", "{era:?}");
        // The person saw the question and the model saw the prompt, once each.
        assert_eq!(
            person.questions(),
            vec!["Proceed?", "Say something"],
            "{era:?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_declined_form_is_not_an_error() -> anyhow::Result<()> {
    for era in Era::BOTH {
        let text = confirm(Wire::Pipe, ScriptedClient::new(era)).await?;
        assert_eq!(text, "declined; Scripted headline", "{era:?}");
    }
    Ok(())
}

#[tokio::test]
async fn a_client_without_capabilities_gets_the_fallback() -> anyhow::Result<()> {
    for era in Era::BOTH {
        let text = confirm(Wire::Pipe, ScriptedClient::new(era).bare()).await?;
        assert_eq!(text, "no-elicitation; no-sampling", "{era:?}");
    }
    Ok(())
}

#[tokio::test]
async fn round_trips_work_over_streamable_http() -> anyhow::Result<()> {
    for era in Era::BOTH {
        let person = ScriptedClient::new(era).answering(json!({"proceed": false}));
        let text = confirm(Wire::Http, person).await?;
        assert_eq!(text, "proceed=false; Scripted headline", "{era:?}");
    }
    Ok(())
}

#[tokio::test]
async fn first_round_asks_and_forged_state_is_refused() -> anyhow::Result<()> {
    let client = over_pipe(Probe::new(), ScriptedClient::new(Era::RoundTrip)).await?;
    let pending = input_required(&client, CallToolRequestParams::new("confirm")).await?;
    assert_eq!(question_keys(&pending), ["confirm"]);
    let sealed = pending.request_state.unwrap_or_default();
    assert!(!sealed.is_empty());

    // A client that edits requestState (to skip a question, say) is refused with -32602.
    let mut forged = CallToolRequestParams::new("confirm");
    forged.request_state = Some(format!("{sealed}x"));
    forged.input_responses = Some(
        [(
            "headline".to_owned(),
            json!({"role": "assistant", "content": {"type": "text", "text": "x"}, "model": "m"}),
        )]
        .into(),
    );
    let err = client
        .call_tool_once(forged)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("requestState"), "{err}");
    client.cancel().await?;
    Ok(())
}
