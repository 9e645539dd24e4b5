//! The stock tools. Tool-level failures (unknown ticker, bad period, bad holdings) are
//! `isError` results whose text says what is valid. Arguments that do not deserialize
//! are `isError` results too, naming the argument (2025-11-25: so the model can retry).

// Sampling is deprecated by SEP-2577 yet served by every revision Belay supports.
#![allow(deprecated)]

use belay_mcp::{Ask, Elicited, IntoToolResponse, Parameters, Suspend};
use rmcp::{
    ErrorData,
    handler::server::tool::schema_for_output,
    model::{
        CallToolResponse, CallToolResult, ContentBlock, CreateMessageRequestParams, ModelHint,
        ModelPreferences, SamplingMessage,
    },
    tool, tool_router,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    StockServer,
    advice::{self, InvestorProfile, WeekRangeChoice},
    data::{Stock, UnknownTicker, humanize, lookup, money, round_to},
    history::{Period, history, to_csv},
    portfolio::{self, PortfolioArgs, PortfolioValue},
};

/// Arguments naming one stock.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct SymbolArgs {
    /// Ticker symbol, case-insensitive: AAPL, MSFT, GOOGL, AMZN, TSLA, META or NVDA.
    symbol: String,
}

fn default_period() -> String {
    Period::Month.as_str().to_owned()
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct HistoryArgs {
    /// Ticker symbol, case-insensitive.
    symbol: String,
    /// History length: 1d, 5d, 1mo, 3mo, 6mo or 1y (1, 5, 21, 63, 126 or 252 trading days).
    #[serde(default = "default_period")]
    period: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct CompareArgs {
    /// First ticker symbol.
    symbol1: String,
    /// Second ticker symbol.
    symbol2: String,
}

/// Structured output of `get_stock_price`.
#[derive(Debug, Serialize, JsonSchema)]
pub(super) struct StockPrice {
    /// Ticker symbol, upper case.
    symbol: String,
    /// Last price in USD.
    price: f64,
}

/// Structured output of `compare_stock_prices`.
#[derive(Debug, Serialize, JsonSchema)]
pub(super) struct PriceComparison {
    symbol1: String,
    price1: f64,
    symbol2: String,
    price2: f64,
    /// The ticker with the higher price; null when both are equal.
    higher: Option<String>,
    /// Absolute price difference in USD.
    difference: f64,
    /// How much higher the higher price is, in percent of the lower (two decimals).
    percent_higher: f64,
}

pub(super) use crate::results::tool_error;

pub(super) fn unknown(error: UnknownTicker) -> CallToolResult {
    tool_error(error.to_string())
}

/// A result with human text and machine-readable structured content.
pub(super) fn with_structure<T: Serialize>(
    text: String,
    value: &T,
) -> Result<CallToolResult, ErrorData> {
    Ok(crate::results::structured(text, value))
}

#[tool_router(vis = "pub(super)")]
impl StockServer {
    #[tool(
        description = "Price of a stock in USD at the close of 2023-11-17, the last day of \
                       the mock data. Returns the number as text and {symbol, price} as \
                       structured content.",
        output_schema = schema_for_output::<StockPrice>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    fn get_stock_price(
        &self,
        Parameters(SymbolArgs { symbol }): Parameters<SymbolArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        let stock = match lookup(&symbol) {
            Ok(stock) => stock,
            Err(e) => return Ok(unknown(e)),
        };
        let price = StockPrice {
            symbol: stock.symbol.to_owned(),
            price: stock.price,
        };
        with_structure(format!("{:.2}", stock.price), &price)
    }

    #[tool(
        description = "Daily price history as CSV (Date,Open,High,Low,Close,Volume), oldest \
                       first, weekdays only, ending with the close of 2023-11-17 (the last day \
                       of the mock data). Deterministic mock data.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    fn get_stock_history(
        &self,
        Parameters(HistoryArgs { symbol, period }): Parameters<HistoryArgs>,
    ) -> CallToolResult {
        let stock = match lookup(&symbol) {
            Ok(stock) => stock,
            Err(e) => return unknown(e),
        };
        match Period::parse(&period) {
            Ok(period) => {
                CallToolResult::success(vec![ContentBlock::text(to_csv(&history(stock, period)))])
            }
            Err(message) => tool_error(message),
        }
    }

    #[tool(
        description = "Compare the prices of two stocks: which is higher and by how much.",
        output_schema = schema_for_output::<PriceComparison>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    fn compare_stock_prices(
        &self,
        Parameters(CompareArgs { symbol1, symbol2 }): Parameters<CompareArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        let (a, b) = match (lookup(&symbol1), lookup(&symbol2)) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(UnknownTicker(mut x)), Err(UnknownTicker(y))) => {
                if x != y {
                    x.extend(y);
                }
                return Ok(unknown(UnknownTicker(x)));
            }
            (Err(e), _) | (_, Err(e)) => return Ok(unknown(e)),
        };
        let heading = format!(
            "{} ({}) vs {} ({})",
            a.symbol,
            money(a.price),
            b.symbol,
            money(b.price)
        );
        let (low, high) = if a.price <= b.price { (a, b) } else { (b, a) };
        let percent = (high.price - low.price) / low.price * 100.0;
        let (text, higher) = if a.price == b.price {
            (format!("{heading}: both trade at the same price"), None)
        } else {
            (
                format!(
                    "{heading}: {} is {percent:.1}% higher than {}",
                    high.symbol, low.symbol
                ),
                Some(high.symbol.to_owned()),
            )
        };
        let comparison = PriceComparison {
            symbol1: a.symbol.to_owned(),
            price1: a.price,
            symbol2: b.symbol.to_owned(),
            price2: b.price,
            higher,
            difference: round_to(high.price - low.price, 2),
            percent_higher: round_to(percent, 2),
        };
        with_structure(text, &comparison)
    }

    #[tool(
        description = "Company profile: name, sector, price, market cap, P/E and volume. Asks \
                       whether to include the 52-week range (if the client can show forms).",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_ticker_info(
        &self,
        Parameters(SymbolArgs { symbol }): Parameters<SymbolArgs>,
        ask: Ask,
    ) -> Result<CallToolResponse, ErrorData> {
        ticker_info(&symbol, &ask).await.into_response()
    }

    #[tool(
        description = "A market-style headline about a stock, written by the client's model \
                       through sampling; a labelled template headline when the client cannot sample.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn stock_headline_sampling(
        &self,
        Parameters(SymbolArgs { symbol }): Parameters<SymbolArgs>,
        ask: Ask,
    ) -> Result<CallToolResponse, ErrorData> {
        headline(&symbol, &ask).await.into_response()
    }

    #[tool(
        description = "Value of a portfolio given shares per ticker: per-holding breakdown \
                       and total in USD.",
        output_schema = schema_for_output::<PortfolioValue>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    fn calculate_portfolio_value(
        &self,
        Parameters(PortfolioArgs { holdings }): Parameters<PortfolioArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        portfolio::value(holdings)
    }

    #[tool(
        description = "Investment view on a stock, personalised by asking the person for \
                       their risk level and time horizon (general advice if they decline).",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_investment_advice(
        &self,
        Parameters(SymbolArgs { symbol }): Parameters<SymbolArgs>,
        ask: Ask,
    ) -> Result<CallToolResponse, ErrorData> {
        investment_advice(&symbol, &ask).await.into_response()
    }
}

/// The profile lines of `get_ticker_info`.
fn ticker_lines(stock: &Stock, include_week_range: bool) -> String {
    let mut text = format!(
        "{} ({})\nSector: {}\nPrice: {}\nMarket cap: ${}\nP/E ratio: {:.1}\nVolume: {}",
        stock.name,
        stock.symbol,
        stock.sector,
        money(stock.price),
        humanize(stock.market_cap),
        stock.pe_ratio,
        humanize(stock.volume as f64),
    );
    if include_week_range {
        text.push_str(&format!(
            "\n52-week range: {} - {}",
            money(stock.week_52_low),
            money(stock.week_52_high)
        ));
    }
    text
}

async fn ticker_info(symbol: &str, ask: &Ask) -> Result<CallToolResult, Suspend> {
    let stock = match lookup(symbol) {
        Ok(stock) => stock,
        Err(e) => return Ok(unknown(e)),
    };
    let question = format!("Include the 52-week price range for {}?", stock.symbol);
    let include = match ask
        .elicit::<WeekRangeChoice>("week_range", &question)
        .await?
    {
        Elicited::Accepted(choice) => choice.include_week_range,
        Elicited::Declined | Elicited::Cancelled | Elicited::Unsupported => false,
    };
    Ok(CallToolResult::success(vec![ContentBlock::text(
        ticker_lines(stock, include),
    )]))
}

async fn headline(symbol: &str, ask: &Ask) -> Result<CallToolResult, Suspend> {
    let stock = match lookup(symbol) {
        Ok(stock) => stock,
        Err(e) => return Ok(unknown(e)),
    };
    let params = CreateMessageRequestParams::new(
        vec![SamplingMessage::user_text(advice::headline_prompt(stock))],
        60,
    )
    .with_system_prompt("You are a financial news editor. Write crisp, factual headlines.")
    .with_temperature(0.7)
    // A headline is a small job: a small, fast model will do.
    .with_model_preferences(
        ModelPreferences::default()
            .with_hints(vec![ModelHint::new("haiku"), ModelHint::new("mini")])
            .with_speed_priority(0.8)
            .with_intelligence_priority(0.3),
    );
    let Some(answer) = ask.sample("headline", params).await? else {
        return Ok(CallToolResult::success(vec![ContentBlock::text(
            advice::fallback_headline(stock),
        )]));
    };
    let text = answer
        .message
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.trim().to_owned()))
        .collect::<Vec<_>>()
        .join(" ");
    if text.is_empty() {
        return Ok(tool_error(format!(
            "The client's model ({}) returned no text for the {} headline.",
            answer.model, stock.symbol
        )));
    }
    Ok(CallToolResult::success(vec![ContentBlock::text(text)]))
}

async fn investment_advice(symbol: &str, ask: &Ask) -> Result<CallToolResult, Suspend> {
    let stock = match lookup(symbol) {
        Ok(stock) => stock,
        Err(e) => return Ok(unknown(e)),
    };
    let question = format!(
        "To tailor advice on {} ({}), what is your risk level and time horizon?",
        stock.name, stock.symbol
    );
    let profile = match ask.elicit::<InvestorProfile>("profile", &question).await? {
        Elicited::Accepted(profile) => Some(profile),
        Elicited::Declined | Elicited::Cancelled | Elicited::Unsupported => None,
    };
    Ok(CallToolResult::success(vec![ContentBlock::text(
        advice::advice(stock, profile),
    )]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stock::data::STOCKS;

    #[test]
    fn ticker_lines_include_the_range_only_when_asked() {
        let msft = &STOCKS[1];
        let short = ticker_lines(msft, false);
        assert_eq!(
            short,
            "Microsoft Corporation (MSFT)\nSector: Technology\nPrice: $380.50\n\
             Market cap: $2.83T\nP/E ratio: 35.2\nVolume: 22.1M"
        );
        let long = ticker_lines(msft, true);
        assert!(long.ends_with("\n52-week range: $275.37 - $420.82"));
    }
}
