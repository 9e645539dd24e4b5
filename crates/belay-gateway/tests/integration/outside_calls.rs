//! What an upstream says outside any call reaches the callers that follow it, each in its
//! era: a resource update every caller subscribed to that resource (a handshake session's
//! `resources/subscribe`, a 2026-07-28 caller's `subscriptions/listen`), with the upstream
//! subscribed once while anyone follows; a log message the handshake sessions that asked
//! for logs at its level, on an endpoint that serves the upstream.
#![allow(deprecated)] // Logging and resources/subscribe are deprecated by SEP-2577 but served.

use std::{sync::Arc, time::Duration};

use belay_gateway::Chain;
use belay_policy::SystemClock;
use rmcp::{
    model::{
        CallToolRequestParams, LoggingLevel, ServerNotification, SetLevelRequestParams,
        SubscribeRequestParams, SubscriptionFilter, UnsubscribeRequestParams,
    },
    service::Subscription,
};
use serde_json::json;

use crate::{
    lab::{DOC, Heard, Lab},
    listen::{client as round_trip_client, next},
    passthrough::listen as recorded,
    support::{WAIT, gateway, gateway_with, http_toml, one_upstream, spec},
};

/// The next resource update on `stream` (within [`WAIT`]), skipping nothing: a stream that
/// asked only for updates must carry nothing else.
async fn update_on(stream: &mut Subscription) -> anyhow::Result<String> {
    match next(stream, WAIT).await? {
        Some(ServerNotification::ResourceUpdatedNotification(update)) => Ok(update.params.uri),
        other => anyhow::bail!("expected a resource update, got {other:?}"),
    }
}

#[tokio::test]
async fn a_resource_update_reaches_followers_of_both_eras_and_the_upstream_is_subscribed_once()
-> anyhow::Result<()> {
    let (lab, url, _l) = Lab::start().await?;
    let gw = one_upstream("lab", &url).await?;
    let (alice, a) = recorded(&gw, "/mcp").await?;
    a.subscribe(SubscribeRequestParams::new(DOC)).await?;
    let federated = round_trip_client(&gw, "/mcp").await?;
    let single = round_trip_client(&gw, "/servers/lab/mcp").await?;
    let doc = SubscriptionFilter::builder()
        .resource_subscription(DOC)
        .build();
    let mut everywhere = federated.peer().listen(doc.clone()).await?;
    let mut of_lab = single.peer().listen(doc).await?;
    for stream in [&everywhere, &of_lab] {
        assert_eq!(
            stream.acknowledged().resource_subscriptions,
            Some(vec![DOC.to_owned()]),
            "the listen stream takes the resource"
        );
    }

    a.call_tool(CallToolRequestParams::new("lab__touch"))
        .await?;
    alice.wait(|h| h.updated == [DOC]).await?;
    assert_eq!(update_on(&mut everywhere).await?, DOC);
    assert_eq!(update_on(&mut of_lab).await?, DOC);
    assert_eq!(
        lab.seen().subscriptions,
        vec![1],
        "three followers, one upstream subscription"
    );

    // The upstream is told once the last follower, of whichever era, is gone.
    a.unsubscribe(UnsubscribeRequestParams::new(DOC)).await?;
    everywhere.cancel().await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(lab.seen().subscriptions, vec![1], "one follower is left");
    a.call_tool(CallToolRequestParams::new("lab__touch"))
        .await?;
    assert_eq!(update_on(&mut of_lab).await?, DOC);
    of_lab.cancel().await?;
    lab.wait(|s| s.subscriptions == [1, -1]).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        alice.heard().updated,
        vec![DOC.to_owned()],
        "alice unsubscribed"
    );
    for client in [federated, single] {
        client.cancel().await?;
    }
    a.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn a_listen_stream_only_takes_resources_its_endpoint_serves() -> anyhow::Result<()> {
    let (_lab, url, _l) = Lab::start().await?;
    let gw = one_upstream("lab", &url).await?;
    let federated = round_trip_client(&gw, "/mcp").await?;
    let filter = SubscriptionFilter::builder()
        .resource_subscriptions([DOC, "nobody://serves-this"])
        .build();
    let stream = federated.peer().listen(filter).await?;
    assert_eq!(
        stream.acknowledged().resource_subscriptions,
        Some(vec![DOC.to_owned()]),
        "a URI no upstream serves is not acknowledged"
    );
    federated.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn a_listen_stream_naming_a_resource_policy_denies_is_refused() -> anyhow::Result<()> {
    let (lab, url, _l) = Lab::start().await?;
    let spec = spec(&format!(
        "{}[policy]\n[[policy.rules]]\nid = \"no-doc\"\neffect = \"deny\"\n\
         kinds = [\"resource\"]\nnames = [\"{DOC}\"]\n",
        http_toml("lab", &url)
    ))?;
    let chain = Chain::from_spec(&spec, Arc::new(SystemClock), None)?;
    let gw = gateway_with(spec, chain, |r| r).await?;
    gw.up("lab").await?;

    // A handshake session is refused by the rule; a listen stream is too, before it is
    // acknowledged.
    let (_, a) = recorded(&gw, "/mcp").await?;
    let refused = a
        .subscribe(SubscribeRequestParams::new(DOC))
        .await
        .expect_err("policy denies the resource");
    assert!(refused.to_string().contains("no-doc"), "{refused}");
    let modern = round_trip_client(&gw, "/mcp").await?;
    let filter = SubscriptionFilter::builder()
        .tools_list_changed()
        .resource_subscription(DOC)
        .build();
    let refusal = match modern.peer().listen(filter).await {
        Ok(stream) => panic!("acknowledged: {:?}", stream.acknowledged()),
        Err(e) => e.to_string(),
    };
    assert!(
        refusal.contains("no-doc") && refusal.contains(DOC),
        "names the rule and the resource: {refusal}"
    );
    assert!(
        lab.seen().subscriptions.is_empty(),
        "the upstream was never subscribed: {:?}",
        lab.seen().subscriptions
    );
    modern.cancel().await?;
    a.cancel().await?;
    Ok(())
}

/// How many `chatter` lines at `level` `heard` holds.
pub(crate) fn chatter(heard: &Heard, level: LoggingLevel) -> usize {
    heard
        .logs
        .iter()
        .filter(|l| l.level == level && l.data == json!("chatter"))
        .count()
}

#[tokio::test]
async fn a_log_sent_outside_any_call_reaches_the_sessions_that_asked_for_it() -> anyhow::Result<()>
{
    let (_lab, url, _l) = Lab::start().await?;
    let (_other, other_url, _o) = Lab::start().await?;
    let gw = gateway(&format!(
        "{}{}",
        http_toml("lab", &url),
        http_toml("other", &other_url)
    ))
    .await?;
    gw.up("lab").await?;
    gw.up("other").await?;
    // Each asks for logs at its level, on an endpoint serving the lab or not.
    let mut sessions = Vec::new();
    for (path, level) in [
        ("/mcp", Some(LoggingLevel::Info)),
        ("/servers/lab/mcp", Some(LoggingLevel::Error)),
        ("/servers/other/mcp", Some(LoggingLevel::Debug)),
        ("/mcp", None),
    ] {
        let (recorder, client) = recorded(&gw, path).await?;
        if let Some(level) = level {
            client.set_level(SetLevelRequestParams::new(level)).await?;
        }
        sessions.push((recorder, client));
    }
    // A 2026-07-28 caller may not be sent a log outside its request (the listen stream
    // carries no `notifications/message`): it opens a stream and hears none.
    let modern = round_trip_client(&gw, "/mcp").await?;
    let tools = SubscriptionFilter::builder().tools_list_changed().build();
    let mut stream = modern.peer().listen(tools).await?;
    while next(&mut stream, Duration::from_millis(300))
        .await?
        .is_some()
    {}

    // The call is answered before the lab logs: the lines belong to no call.
    let (wide, caller) = &sessions[0];
    caller
        .call_tool(CallToolRequestParams::new("lab__chatter"))
        .await?;
    let heard = wide.wait(|h| chatter(h, LoggingLevel::Error) == 1).await?;
    assert_eq!(chatter(&heard, LoggingLevel::Info), 1, "{heard:?}");
    let (strict, _) = &sessions[1];
    let heard = strict
        .wait(|h| chatter(h, LoggingLevel::Error) == 1)
        .await?;
    assert_eq!(
        chatter(&heard, LoggingLevel::Info),
        0,
        "below the session's level: {heard:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (elsewhere, _) = &sessions[2];
    assert!(
        elsewhere.heard().logs.is_empty(),
        "an endpoint that does not serve the lab: {:?}",
        elsewhere.heard().logs
    );
    let (silent, _) = &sessions[3];
    assert!(
        silent.heard().logs.is_empty(),
        "a session that never asked for logs: {:?}",
        silent.heard().logs
    );
    let heard = next(&mut stream, Duration::from_millis(100)).await?;
    assert!(heard.is_none(), "nothing on the listen stream: {heard:?}");
    modern.cancel().await?;
    for (_, client) in sessions {
        client.cancel().await?;
    }
    Ok(())
}

#[tokio::test]
async fn an_upstream_a_reload_adds_logs_to_the_federated_sessions_that_asked_for_logs()
-> anyhow::Result<()> {
    let (_lab, url, _l) = Lab::start().await?;
    let gw = one_upstream("lab", &url).await?;
    let (recorder, client) = recorded(&gw, "/mcp").await?;
    client
        .set_level(SetLevelRequestParams::new(LoggingLevel::Error))
        .await?;

    let (_late, late_url, _t) = Lab::start().await?;
    let both = spec(&format!(
        "{}{}",
        http_toml("lab", &url),
        http_toml("late", &late_url)
    ))?;
    let report = gw.gateway.reload(&both)?;
    assert_eq!(report.upstreams_added, ["late"], "{report}");
    gw.up("late").await?;
    client
        .call_tool(CallToolRequestParams::new("late__chatter"))
        .await?;
    let heard = recorder
        .wait(|h| chatter(h, LoggingLevel::Error) == 1)
        .await?;
    assert_eq!(
        chatter(&heard, LoggingLevel::Info),
        0,
        "at the level the session asked for: {heard:?}"
    );
    client.cancel().await?;
    Ok(())
}
