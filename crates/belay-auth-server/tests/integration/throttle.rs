//! Password guessing (issue 17, item 6): a burst of wrong passwords on one sign-in page is
//! slowed to a crawl, says so on the page, and costs no argon2 work once the account must
//! wait; the person gets in once the wait is over.

use reqwest::{StatusCode, header};

use crate::support::*;

#[tokio::test]
async fn guessing_a_password_is_slowed_and_the_page_says_so() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let client = h.register("none").await?;
    let pkce = pkce();
    let form = Harness::form(h.authorize(&client.id, &pkce.challenge, &[]).await?).await?;
    // The review's attack: 60 wrong passwords in a row, then the right one.
    let mut statuses = Vec::new();
    let mut last_page = String::new();
    for i in 0..60 {
        let resp = h
            .submit(&form, &format!("guess number {i}"), "approve")
            .await?;
        statuses.push(resp.status());
        last_page = resp.text().await?;
    }
    let wrong = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    // Five free tries, the sixth starts a wait; every later one is refused unchecked.
    assert_eq!(wrong, 6, "{statuses:?}");
    assert!(
        last_page.contains("Too many failed sign-ins"),
        "{last_page}"
    );
    let resp = h.submit(&form, PASSWORD, "approve").await?;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = resp
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_default();
    assert!(retry >= 1, "Retry-After says how long");
    // Once the wait is over, the person gets in.
    h.clock.advance_secs(retry);
    let resp = h.submit(&form, PASSWORD, "approve").await?;
    assert_eq!(
        resp.status(),
        StatusCode::SEE_OTHER,
        "{}",
        resp.text().await?
    );
    Ok(())
}

#[tokio::test]
async fn a_parallel_burst_checks_few_passwords() -> anyhow::Result<()> {
    // One check at a time, so the bound below does not depend on this machine's cores.
    let h = Harness::start_with(
        belay_store::Db::in_memory()?,
        belay_auth_server::ManualClock::new(),
        |settings| settings.max_password_checks = 1,
    )
    .await?;
    let client = h.register("none").await?;
    let pkce = pkce();
    let form = Harness::form(h.authorize(&client.id, &pkce.challenge, &[]).await?).await?;
    let attempts = (0..24).map(|i| {
        let (h, form) = (&h, &form);
        async move {
            h.submit(form, &format!("parallel guess {i}"), "approve")
                .await
                .map(|r| r.status())
        }
    });
    let statuses = futures::future::try_join_all(attempts).await?;
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    // Without a cap on concurrent checks all 24 would be checked before the first failure
    // counted: 24 argon2 hashes (19 MiB each) at once. With one at a time, the sixth failure
    // starts a wait and the rest are refused unchecked.
    assert!(checked <= 7, "{checked} checked: {statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED || *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    Ok(())
}
