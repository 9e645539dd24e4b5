//! The stock prompts. Bad arguments (unknown ticker, period or risk tolerance) are
//! -32602 errors whose message lists the valid values: prompts have no `isError`.

use rmcp::{
    ErrorData,
    handler::server::wrapper::Parameters,
    model::{GetPromptResult, PromptMessage, Role},
    prompt, prompt_router,
};
use schemars::JsonSchema;
use serde::Deserialize;

use super::{
    StockServer,
    advice::{RiskLevel, fact_lines, volatility_class},
    data::{humanize, lookup, money},
    history::{Period, history, performance},
};

fn default_period() -> String {
    Period::Month.as_str().to_owned()
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct AnalysisArgs {
    /// Ticker symbol, case-insensitive (AAPL, MSFT, GOOGL, AMZN, TSLA, META, NVDA).
    symbol: String,
    /// History to summarise: 1d, 5d, 1mo (default), 3mo, 6mo or 1y.
    #[serde(default = "default_period")]
    period: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct RiskArgs {
    /// Ticker symbol, case-insensitive (AAPL, MSFT, GOOGL, AMZN, TSLA, META, NVDA).
    symbol: String,
    /// The investor's risk tolerance: low, medium or high.
    risk_tolerance: String,
}

fn invalid(message: impl Into<String>) -> ErrorData {
    ErrorData::invalid_params(message.into(), None)
}

// `#[prompt]` adds an undocumented `pub fn NAME_prompt_attr()` per prompt.
#[allow(missing_docs)]
#[prompt_router(vis = "pub(super)")]
impl StockServer {
    #[prompt(
        description = "Ask for an analysis of a stock, with a performance summary of the \
                       period computed from its price history."
    )]
    async fn stock_analysis_prompt(
        &self,
        Parameters(AnalysisArgs { symbol, period }): Parameters<AnalysisArgs>,
    ) -> Result<GetPromptResult, ErrorData> {
        let stock = lookup(&symbol).map_err(|e| invalid(e.to_string()))?;
        let period = Period::parse(&period).map_err(invalid)?;
        let bars = history(stock, period);
        let perf = performance(&bars)
            .ok_or_else(|| ErrorData::internal_error("empty price history", None))?;
        let text = format!(
            "Analyze {} ({}, {} sector) over the last {} ({} trading days, {} to {}).\n\n\
             Performance summary:\n\
             - Start close: {}\n\
             - End close: {}\n\
             - Change: {:+.2}%\n\
             - Period high: {}\n\
             - Period low: {}\n\n\
             Snapshot:\n{}\n\n\
             Assess the trend, the valuation and the main risks, then give a one-paragraph outlook.",
            stock.name,
            stock.symbol,
            stock.sector,
            period.as_str(),
            bars.len(),
            perf.first_date,
            perf.last_date,
            money(perf.start_close),
            money(perf.end_close),
            perf.change_pct,
            money(perf.high),
            money(perf.low),
            fact_lines(stock),
        );
        Ok(
            GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)]).with_description(
                format!(
                    "{} performance analysis ({})",
                    stock.symbol,
                    period.as_str()
                ),
            ),
        )
    }

    #[prompt(
        description = "Ask for a risk assessment of a stock for an investor with the given \
                       risk tolerance (low, medium or high)."
    )]
    async fn risk_assessment_prompt(
        &self,
        Parameters(RiskArgs {
            symbol,
            risk_tolerance,
        }): Parameters<RiskArgs>,
    ) -> Result<GetPromptResult, ErrorData> {
        let stock = lookup(&symbol).map_err(|e| invalid(e.to_string()))?;
        let tolerance = RiskLevel::parse(&risk_tolerance).map_err(invalid)?;
        let year = history(stock, Period::Year);
        let drawdown = year
            .iter()
            .scan(f64::MIN, |peak, bar| {
                *peak = peak.max(bar.high);
                Some((*peak - bar.low) / *peak * 100.0)
            })
            .fold(0.0, f64::max);
        let text = format!(
            "Assess the risk of holding {} ({}) for an investor with {} risk tolerance.\n\n\
             Facts:\n{}\n\
             - Stock volatility class: {}.\n\
             - Largest peak-to-trough fall over the past year: {:.1}%.\n\
             - Average daily volume: {} shares.\n\n\
             Cover volatility, valuation, concentration (sector: {}) and liquidity, say whether \
             the stock suits a {} risk tolerance, and suggest a position size as a share of a portfolio.",
            stock.name,
            stock.symbol,
            tolerance.as_str(),
            fact_lines(stock),
            volatility_class(stock).as_str(),
            drawdown,
            humanize(stock.volume as f64),
            stock.sector,
            tolerance.as_str(),
        );
        Ok(
            GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)]).with_description(
                format!(
                    "{} risk assessment for a {} risk tolerance",
                    stock.symbol,
                    tolerance.as_str()
                ),
            ),
        )
    }
}
