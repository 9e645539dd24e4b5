//! Resources (`stock://tickers`, `stock://sectors`, the `stock://{symbol}` template) and
//! argument completion.

use rmcp::{
    ErrorData,
    model::{
        CompleteRequestParams, CompleteResult, CompletionInfo, Reference, Resource,
        ResourceContents, ResourceTemplate,
    },
};
use serde::Serialize;

use super::{
    data::{lookup, sectors, tickers, tickers_starting_with},
    history::Period,
};

pub(super) const TICKERS_URI: &str = "stock://tickers";
pub(super) const SECTORS_URI: &str = "stock://sectors";
pub(super) const STOCK_TEMPLATE: &str = "stock://{symbol}";
const SCHEME: &str = "stock://";
const JSON: &str = "application/json";

/// The fixed resources.
pub(super) fn resources() -> Vec<Resource> {
    vec![
        Resource::new(TICKERS_URI, "tickers")
            .with_title("Tickers")
            .with_description("Every ticker symbol the stock server knows, as a JSON array.")
            .with_mime_type(JSON),
        Resource::new(SECTORS_URI, "sectors")
            .with_title("Sectors")
            .with_description("Sector name to its ticker symbols, as a JSON object.")
            .with_mime_type(JSON),
    ]
}

/// The resource templates.
pub(super) fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new(STOCK_TEMPLATE, "stock")
            .with_title("Stock snapshot")
            .with_description(
                "Name, sector, price, market cap, P/E, volume and 52-week range of one stock, \
                 as JSON. The symbol is case-insensitive.",
            )
            .with_mime_type(JSON),
    ]
}

fn json_contents<T: Serialize>(uri: &str, value: &T) -> Result<ResourceContents, ErrorData> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| ErrorData::internal_error(format!("cannot serialize {uri}: {e}"), None))?;
    Ok(ResourceContents::text(text, uri).with_mime_type(JSON))
}

fn not_found(uri: &str, why: &str) -> ErrorData {
    ErrorData::resource_not_found(
        format!(
            "Resource not found: {uri}. {why} Known resources: {TICKERS_URI}, {SECTORS_URI} and \
             {STOCK_TEMPLATE} for {}.",
            tickers().join(", ")
        ),
        Some(serde_json::json!({ "uri": uri })),
    )
}

/// The contents of `uri`, or resource-not-found (rmcp sends -32002 to handshake-era
/// clients and -32602 to 2026-07-28 ones).
pub(super) fn read(uri: &str) -> Result<ResourceContents, ErrorData> {
    match uri {
        TICKERS_URI => return json_contents(uri, &tickers()),
        SECTORS_URI => return json_contents(uri, &sectors()),
        _ => {}
    }
    let Some(symbol) = uri.strip_prefix(SCHEME) else {
        return Err(not_found(
            uri,
            "The stock server serves only stock:// URIs.",
        ));
    };
    match lookup(symbol) {
        Ok(stock) => json_contents(uri, stock),
        Err(e) => Err(not_found(uri, &e.to_string())),
    }
}

/// Completion values for the argument `argument` of the prompt or template in `reference`.
fn candidates(reference: &Reference, argument: &str, prefix: &str) -> Vec<String> {
    let prompt = reference.as_prompt_name();
    let on_template = reference.as_resource_uri() == Some(STOCK_TEMPLATE);
    let on_prompt = matches!(
        prompt,
        Some("stock_analysis_prompt" | "risk_assessment_prompt")
    );
    let starting = |values: Vec<&str>| -> Vec<String> {
        let prefix = prefix.trim().to_ascii_lowercase();
        values
            .into_iter()
            .filter(|v| v.starts_with(&prefix))
            .map(str::to_owned)
            .collect()
    };
    match argument {
        "symbol" if on_prompt || on_template => tickers_starting_with(prefix),
        "period" if prompt == Some("stock_analysis_prompt") => starting(Period::names()),
        "risk_tolerance" if prompt == Some("risk_assessment_prompt") => {
            starting(vec!["low", "medium", "high"])
        }
        _ => Vec::new(),
    }
}

/// Answers `completion/complete`: prefix matches, case-insensitive.
pub(super) fn complete(request: &CompleteRequestParams) -> Result<CompleteResult, ErrorData> {
    let values = candidates(
        &request.r#ref,
        &request.argument.name,
        &request.argument.value,
    );
    let info =
        CompletionInfo::with_all_values(values).map_err(|e| ErrorData::internal_error(e, None))?;
    Ok(CompleteResult::new(info))
}

#[cfg(test)]
mod tests {
    use rmcp::model::ErrorCode;

    use super::*;

    fn text(contents: &ResourceContents) -> &str {
        match contents {
            ResourceContents::TextResourceContents { text, .. } => text,
            _ => "",
        }
    }

    #[test]
    fn reads_the_fixed_resources_and_any_case_of_symbol() {
        let tickers: Vec<String> = read(TICKERS_URI)
            .ok()
            .and_then(|c| serde_json::from_str(text(&c)).ok())
            .unwrap_or_default();
        assert_eq!(
            tickers,
            ["AAPL", "MSFT", "GOOGL", "AMZN", "TSLA", "META", "NVDA"]
        );
        let stock: serde_json::Value = read("stock://tsla")
            .ok()
            .and_then(|c| serde_json::from_str(text(&c)).ok())
            .unwrap_or_default();
        assert_eq!(stock["symbol"], "TSLA");
        assert_eq!(stock["price"], 242.6);
        assert!(stock.get("daily_volatility").is_none());
    }

    #[test]
    fn unknown_uris_are_not_found() {
        for uri in ["stock://XYZ", "weather://paris", "stock://"] {
            let err = read(uri).err().map(|e| (e.code, e.message.to_string()));
            let (code, message) = err.unwrap_or((ErrorCode::INTERNAL_ERROR, String::new()));
            assert_eq!(code, ErrorCode::RESOURCE_NOT_FOUND, "{uri}");
            assert!(
                message.contains(uri) && message.contains("AAPL"),
                "{message}"
            );
        }
    }

    #[test]
    fn completes_symbols_periods_and_tolerances() {
        let analysis = Reference::for_prompt("stock_analysis_prompt");
        assert_eq!(candidates(&analysis, "symbol", "a"), ["AAPL", "AMZN"]);
        assert_eq!(candidates(&analysis, "period", "1"), ["1d", "1mo", "1y"]);
        let template = Reference::for_resource(STOCK_TEMPLATE);
        assert_eq!(candidates(&template, "symbol", "ts"), ["TSLA"]);
        let risk = Reference::for_prompt("risk_assessment_prompt");
        assert_eq!(candidates(&risk, "risk_tolerance", "M"), ["medium"]);
        assert!(candidates(&Reference::for_prompt("other"), "symbol", "a").is_empty());
    }
}
