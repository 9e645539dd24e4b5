//! What the official Python SDK's server (`tests/python/sdk_upstream.py`, over stdio, as
//! the interop matrix runs most upstreams) says outside the answer to a call reaches
//! callers of both eras: resource updates to every follower, with the upstream subscribed
//! once; a log sent outside any call to the handshake sessions that asked for it; progress
//! and logs sent just before a result ahead of that result.
//!
//! Without the Python SDK these tests say so and pass, as `foreign_upstream` does.
#![allow(deprecated)] // Logging and resources/subscribe are deprecated by SEP-2577 but served.

use std::time::Duration;

use belay_mcp::testkit::text_of;
use rmcp::{
    RoleClient,
    model::{
        CallToolRequestParams, LoggingLevel, ServerNotification, SetLevelRequestParams,
        SubscribeRequestParams, SubscriptionFilter, UnsubscribeRequestParams,
    },
    service::RunningService,
};
use serde_json::json;

use crate::{
    foreign_upstream::{Wire, python, sdk_gateway},
    lab::Recorder,
    listen::{client as round_trip_client, next},
    order::{before_answer, handshake_call, messages, round_trip_call, steps},
    outside_calls::chatter,
    passthrough::listen as recorded,
    support::WAIT,
};

const NOTE: &str = "sdk://note";

/// The subscribes (+1) and unsubscribes (-1) the SDK server received, asked through `client`.
async fn upstream_subscriptions(
    client: &RunningService<RoleClient, Recorder>,
) -> anyhow::Result<Vec<i64>> {
    let text = text_of(
        &client
            .call_tool(CallToolRequestParams::new("sdk__subscriptions"))
            .await?,
    );
    Ok(serde_json::from_str(&text)?)
}

#[tokio::test]
async fn a_python_sdk_upstreams_resource_update_reaches_followers_of_both_eras()
-> anyhow::Result<()> {
    let Some(python) = python() else {
        return Ok(());
    };
    let (gw, _server) = sdk_gateway(&python, Wire::Stdio).await?;
    let (alice, a) = recorded(&gw, "/mcp").await?;
    a.subscribe(SubscribeRequestParams::new(NOTE)).await?;
    let modern = round_trip_client(&gw, "/servers/sdk/mcp").await?;
    let filter = SubscriptionFilter::builder()
        .resource_subscription(NOTE)
        .build();
    let mut stream = modern.peer().listen(filter).await?;
    assert_eq!(
        stream.acknowledged().resource_subscriptions,
        Some(vec![NOTE.to_owned()])
    );

    a.call_tool(CallToolRequestParams::new("sdk__touch"))
        .await?;
    alice.wait(|h| h.updated == [NOTE]).await?;
    let heard = next(&mut stream, WAIT).await?;
    assert!(
        matches!(&heard, Some(ServerNotification::ResourceUpdatedNotification(u)) if u.params.uri == NOTE),
        "{heard:?}"
    );
    assert_eq!(upstream_subscriptions(&a).await?, vec![1]);

    a.unsubscribe(UnsubscribeRequestParams::new(NOTE)).await?;
    stream.cancel().await?;
    let unsubscribed = tokio::time::timeout(WAIT, async {
        loop {
            let seen = upstream_subscriptions(&a).await?;
            if seen.len() > 1 {
                return anyhow::Ok(seen);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await??;
    assert_eq!(unsubscribed, vec![1, -1]);
    modern.cancel().await?;
    a.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn a_python_sdk_upstreams_log_outside_any_call_reaches_the_sessions_that_asked()
-> anyhow::Result<()> {
    let Some(python) = python() else {
        return Ok(());
    };
    let (gw, _server) = sdk_gateway(&python, Wire::Stdio).await?;
    let (wide, a) = recorded(&gw, "/mcp").await?;
    a.set_level(SetLevelRequestParams::new(LoggingLevel::Info))
        .await?;
    let (strict, b) = recorded(&gw, "/servers/sdk/mcp").await?;
    b.set_level(SetLevelRequestParams::new(LoggingLevel::Error))
        .await?;
    a.call_tool(CallToolRequestParams::new("sdk__chatter"))
        .await?;
    let heard = wide.wait(|h| chatter(h, LoggingLevel::Error) == 1).await?;
    assert_eq!(chatter(&heard, LoggingLevel::Info), 1, "{heard:?}");
    let heard = strict
        .wait(|h| chatter(h, LoggingLevel::Error) == 1)
        .await?;
    assert_eq!(chatter(&heard, LoggingLevel::Info), 0, "{heard:?}");
    a.cancel().await?;
    b.cancel().await?;
    Ok(())
}

// Several threads, as `belay gateway serve` runs: the race needs them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_sdk_upstreams_progress_and_logs_arrive_before_the_result() -> anyhow::Result<()> {
    let Some(python) = python() else {
        return Ok(());
    };
    let (gw, _server) = sdk_gateway(&python, Wire::Stdio).await?;
    let url = format!("{}/mcp", gw.base);
    let session = belay_mcp::testkit::requests::open_session(&url, None).await?;
    let count = crate::lab::BURST;
    let arguments = json!({ "count": count });
    for id in 1..=5 {
        let token = format!("handshake-{id}");
        let body =
            handshake_call(&url, &session, id, "sdk__burst", arguments.clone(), &token).await?;
        let (progress, _) = before_answer(&messages(&body), id, &token)?;
        assert_eq!(progress, steps(count), "handshake call {id}: {body}");

        let token = format!("round-trip-{id}");
        let body = round_trip_call(&url, id, "sdk__burst", arguments.clone(), &token).await?;
        let (progress, logs) = before_answer(&messages(&body), id, &token)?;
        assert_eq!(progress, steps(count), "2026-07-28 call {id}: {body}");
        assert_eq!(logs, vec![json!("burst")], "2026-07-28 call {id}: {body}");
    }
    Ok(())
}
