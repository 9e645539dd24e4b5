//! Tests of the client handler: context lines, URL notices before and after the person's yes.

use super::{url_elicitation::MAX_PENDING_URLS, *};

#[test]
fn context_lines_name_the_server_of_each_call() {
    let call = |id: &str, name: &str| crate::model::ToolCall {
        id: id.into(),
        name: name.into(),
        arguments: "{}".into(),
    };
    let messages = vec![
        Message::System {
            content: "secret instructions".into(),
        },
        Message::User {
            content: "AAPL and Tokyo?".into(),
        },
        Message::Assistant {
            content: String::new(),
            tool_calls: vec![call("a", "get_stock_price"), call("b", "get_weather")],
        },
        Message::Tool {
            tool_call_id: "a".into(),
            content: "150.25".into(),
        },
        Message::Tool {
            tool_call_id: "b".into(),
            content: "Tokyo: mild".into(),
        },
    ];
    let server_of = |name: &str| match name {
        "get_stock_price" => Some(("stock".to_owned(), "stock.get_stock_price".to_owned())),
        "get_weather" => Some(("weather".to_owned(), "weather.get_weather".to_owned())),
        _ => None,
    };
    let lines = context_lines(&messages, &server_of);
    let shown: Vec<(Option<&str>, &str)> = lines
        .iter()
        .map(|l| (l.server.as_deref(), l.text.as_str()))
        .collect();
    assert_eq!(
        shown,
        [
            (None, "AAPL and Tokyo?"),
            (Some("stock"), "called stock.get_stock_price({})"),
            (Some("weather"), "called weather.get_weather({})"),
            (Some("stock"), "stock.get_stock_price → 150.25"),
            (Some("weather"), "weather.get_weather → Tokyo: mild"),
        ]
    );
}

/// Someone who opens every page and answers nothing else.
struct Opener;

#[async_trait::async_trait]
impl Person for Opener {
    async fn approve_sampling(&self, _: &str, _: &str) -> Approval {
        Approval::Refuse
    }
    async fn fill_form(&self, _: &str, _: &str, _: &[form::Field]) -> FormAnswer {
        FormAnswer::Cancel
    }
    async fn open_url(&self, _: &str, _: &str, _: &str) -> bool {
        true
    }
}

#[tokio::test]
async fn a_notice_before_the_yes_is_not_lost_and_strangers_are_bounded() {
    let shared = Shared::with_url_wait(
        None,
        Arc::new(Opener),
        Screen::new(true),
        false,
        Duration::from_secs(5),
    );
    // The person opened the page before saying yes: its notice came first.
    assert!(shared.url_done("s", "a"));
    let page = UrlRequest {
        id: "a".into(),
        url: "https://x/a".into(),
        message: String::new(),
    };
    let started = Instant::now();
    assert_eq!(shared.visit_urls("s", &[page]).await, Ok(()));
    assert!(started.elapsed() < Duration::from_secs(1));
    // A server sending notices for pages nobody asked about fills a bounded set only.
    for n in 0..1000 {
        shared.url_done("s", &n.to_string());
    }
    assert!(shared.urls.borrow().done.len() <= MAX_PENDING_URLS);
}
