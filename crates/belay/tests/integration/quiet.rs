//! A normal run logs nothing alarming: sign-in, calls with and without a question, in both
//! protocol eras, then a clean stop, and not one ERROR or WARN line on stderr.

use rmcp::model::SubscriptionFilter;

use crate::support::*;

/// Signs in as `demo` at `url` in `era` as a person who answers the stock server's
/// question; the client.
async fn demo_client(
    url: &str,
    password: &str,
    era: Era,
) -> anyhow::Result<rmcp::service::RunningService<rmcp::RoleClient, ScriptedClient>> {
    let options = belay_client::SignInOptions {
        user_agent: std::sync::Arc::new(belay_client::FormAgent::new("demo", password)?),
        allow_private_addresses: true,
        ..belay_client::SignInOptions::default()
    };
    let person =
        ScriptedClient::new(era).answering(serde_json::json!({"include_week_range": true}));
    Ok(belay_client::connect(url, options, person, era.lifecycle()).await?)
}

#[tokio::test]
async fn up_logs_no_error_or_warning_through_calls_questions_and_a_clean_stop() -> anyhow::Result<()>
{
    let data = fresh_dir("quiet")?;
    let log = data.join("stderr.log");
    let mut child = Reaper(
        belay()
            .args(["up", "--port", "0", "--json", "--data-dir"])
            .arg(data.join("state"))
            .env_remove("BELAY_CONFIG")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log)?)
            .spawn()?,
    );
    let info = first_json_line(&mut child.0)?;
    let password = info["user"]["password"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no demo password: {info}"))?
        .to_owned();
    let gateway = info["gateway"]["url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    for era in Era::BOTH {
        let client = demo_client(&gateway, &password, era).await?;
        let price = client
            .call_tool(
                CallToolRequestParams::new("stock__get_stock_price")
                    .with_arguments(object(serde_json::json!({"symbol": "AAPL"}))),
            )
            .await?;
        assert_ne!(price.is_error, Some(true), "{era:?}: {price:?}");
        // The stock server asks whether to include the 52-week range; the person says yes.
        let info = client
            .call_tool(
                CallToolRequestParams::new("stock__get_ticker_info")
                    .with_arguments(object(serde_json::json!({"symbol": "AAPL"}))),
            )
            .await?;
        let text = format!("{info:?}");
        assert!(text.contains("52-week range"), "{era:?}: {text}");
        // A 2026-07-28 client hears of list changes on a listen stream, which ends with it.
        let _listening = match era {
            Era::RoundTrip => {
                let changes = SubscriptionFilter::builder().tools_list_changed().build();
                Some(client.peer().listen(changes).await?)
            }
            Era::Handshake => None,
        };
        client.cancel().await?;
    }

    terminate(&child.0);
    let status = wait_with_timeout(&mut child.0, Duration::from_secs(15));
    assert_eq!(status.map(|s| s.success()), Some(true), "no clean stop");
    let stderr = std::fs::read_to_string(&log)?;
    let alarming: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains(" ERROR ") || line.contains(" WARN "))
        .collect();
    assert!(alarming.is_empty(), "{}", alarming.join("\n"));
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}
