//! `subscriptions/listen` (2026-07-28): an upstream's list change reaches the listen
//! streams that asked for that kind, on the endpoints that serve that upstream.

use std::time::Duration;

use belay_mcp::testkit::{Client, Era, ScriptedClient};
use rmcp::{
    ClientServiceExt,
    model::{CallToolRequestParams, ServerNotification, SubscriptionFilter},
    service::Subscription,
    transport::StreamableHttpClientTransport,
};

use crate::{
    lab::Lab,
    support::{Running, WAIT, gateway},
};

/// A 2026-07-28 client on `path`.
pub(crate) async fn client(gw: &Running, path: &str) -> anyhow::Result<Client> {
    let person = ScriptedClient::new(Era::RoundTrip);
    let transport = StreamableHttpClientTransport::from_uri(format!("{}{path}", gw.base));
    let lifecycle = person.era.lifecycle();
    Ok(person.serve_with_lifecycle(transport, lifecycle).await?)
}

/// The next notification on `stream` within `within`, if any.
pub(crate) async fn next(
    stream: &mut Subscription,
    within: Duration,
) -> anyhow::Result<Option<ServerNotification>> {
    match tokio::time::timeout(within, stream.next()).await {
        Ok(next) => Ok(next?),
        Err(_) => Ok(None),
    }
}

#[tokio::test]
async fn a_list_change_reaches_the_streams_that_listen_for_it() -> anyhow::Result<()> {
    let (_lab, url, _l) = Lab::start().await?;
    let other = Lab::start().await?;
    let gw = gateway(&format!(
        "[[upstream]]\nname = \"lab\"\ntransport = {{ type = \"http\", url = \"{url}\" }}\n\
         [[upstream]]\nname = \"other\"\ntransport = {{ type = \"http\", url = \"{}\" }}\n",
        other.1
    ))
    .await?;
    gw.up("lab").await?;
    gw.up("other").await?;

    let federated = client(&gw, "/mcp").await?;
    let single = client(&gw, "/servers/lab/mcp").await?;
    let elsewhere = client(&gw, "/servers/other/mcp").await?;
    let tools = SubscriptionFilter::builder().tools_list_changed().build();
    let mut tools_everywhere = federated.peer().listen(tools.clone()).await?;
    let mut tools_of_lab = single.peer().listen(tools.clone()).await?;
    let mut tools_of_other = elsewhere.peer().listen(tools).await?;
    let prompts = SubscriptionFilter::builder().prompts_list_changed().build();
    let mut prompts_only = federated.peer().listen(prompts).await?;
    assert_eq!(
        tools_everywhere.acknowledged().tools_list_changed,
        Some(true)
    );
    // An upstream's (re)connect is announced as a tools change too: let those pass first.
    for stream in [
        &mut tools_everywhere,
        &mut tools_of_lab,
        &mut tools_of_other,
        &mut prompts_only,
    ] {
        while next(stream, Duration::from_millis(300)).await?.is_some() {}
    }

    federated
        .call_tool(CallToolRequestParams::new("lab__grow"))
        .await?;
    for stream in [&mut tools_everywhere, &mut tools_of_lab] {
        let heard = next(stream, WAIT).await?;
        assert!(
            matches!(
                heard,
                Some(ServerNotification::ToolListChangedNotification(_))
            ),
            "{heard:?}"
        );
    }
    // Neither a stream that asked for another kind, nor one for another upstream.
    for stream in [&mut prompts_only, &mut tools_of_other] {
        let heard = next(stream, Duration::from_millis(500)).await?;
        assert!(heard.is_none(), "{heard:?}");
    }
    for client in [federated, single, elsewhere] {
        client.cancel().await?;
    }
    Ok(())
}
