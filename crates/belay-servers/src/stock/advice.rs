//! Deterministic text built from the data: investment advice, the risk profile a person
//! is asked for, and the headline prompt (with its fallback).

use schemars::JsonSchema;
use serde::Deserialize;

use super::data::{Stock, humanize, money};

/// How much risk an investor accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub(super) enum RiskLevel {
    Low,
    Medium,
    High,
}

impl RiskLevel {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            RiskLevel::Low => "low",
            RiskLevel::Medium => "medium",
            RiskLevel::High => "high",
        }
    }

    /// Parses `low`, `Medium`, ` HIGH `; the error says what is accepted.
    pub(super) fn parse(text: &str) -> Result<RiskLevel, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "low" => Ok(RiskLevel::Low),
            "medium" => Ok(RiskLevel::Medium),
            "high" => Ok(RiskLevel::High),
            _ => Err(format!(
                "Unknown risk tolerance \"{}\". Valid values: low, medium, high.",
                text.trim()
            )),
        }
    }
}

/// How long an investor means to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub(super) enum TimeHorizon {
    Short,
    Medium,
    Long,
}

impl TimeHorizon {
    fn as_str(self) -> &'static str {
        match self {
            TimeHorizon::Short => "short",
            TimeHorizon::Medium => "medium",
            TimeHorizon::Long => "long",
        }
    }
}

// The form `get_investment_advice` shows, both questions at once. The schemars titles and
// descriptions are what the person reads, so they are written for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[schemars(
    title = "Investor profile",
    description = "Used only to tailor this answer; nothing is stored."
)]
pub(super) struct InvestorProfile {
    /// Your risk tolerance: low, medium or high.
    #[schemars(title = "Risk level")]
    pub(super) risk_level: RiskLevel,
    /// How long you plan to hold: short (under a year), medium (1-5 years) or long.
    #[schemars(title = "Time horizon")]
    pub(super) time_horizon: TimeHorizon,
}

// The form `get_ticker_info` shows (titles and descriptions are for the person).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[schemars(
    title = "52-week range",
    description = "The lowest and highest price of the past year."
)]
pub(super) struct WeekRangeChoice {
    /// Include the 52-week price range in the answer.
    #[schemars(title = "Include the 52-week range")]
    pub(super) include_week_range: bool,
}

/// The stock's own risk, by its typical daily move.
pub(super) fn volatility_class(stock: &Stock) -> RiskLevel {
    match stock.daily_volatility {
        v if v >= 0.03 => RiskLevel::High,
        v if v >= 0.02 => RiskLevel::Medium,
        _ => RiskLevel::Low,
    }
}

/// Valuation, momentum and volatility, one line each.
pub(super) fn fact_lines(stock: &Stock) -> String {
    let valuation = match stock.pe_ratio {
        pe if pe < 25.0 => "reasonably valued",
        pe if pe < 40.0 => "richly valued",
        _ => "priced for strong growth",
    };
    let position = stock.range_position();
    let momentum = match position {
        p if p >= 0.8 => "near its 52-week high",
        p if p <= 0.2 => "near its 52-week low",
        _ => "mid-range",
    };
    format!(
        "- Valuation: P/E {:.1}, {valuation}; market cap {}.\n\
         - Momentum: {} is {:.0}% of the way up its 52-week range ({} - {}), {momentum}.\n\
         - Volatility: {} (about {:.1}% on a typical day).",
        stock.pe_ratio,
        humanize(stock.market_cap),
        money(stock.price),
        position * 100.0,
        money(stock.week_52_low),
        money(stock.week_52_high),
        volatility_class(stock).as_str(),
        stock.daily_volatility * 100.0,
    )
}

const DISCLAIMER: &str = "Mock data for demonstration; not financial advice.";

/// Advice tailored to `profile`, or general advice when there is none.
pub(super) fn advice(stock: &Stock, profile: Option<InvestorProfile>) -> String {
    let facts = fact_lines(stock);
    let Some(profile) = profile else {
        return format!(
            "General view on {} ({}), not personalised (no risk profile was given):\n{facts}\n\
             Suggestion: size any position to your own risk tolerance and keep it part of a \
             diversified portfolio.\n{DISCLAIMER}",
            stock.name, stock.symbol
        );
    };
    let stock_risk = volatility_class(stock);
    let fit = match profile.risk_level.cmp(&stock_risk) {
        std::cmp::Ordering::Less => format!(
            "{} is more volatile than your {} risk tolerance allows: keep it a small position, \
             or prefer steadier names.",
            stock.symbol,
            profile.risk_level.as_str()
        ),
        std::cmp::Ordering::Equal => format!(
            "{} matches your {} risk tolerance: a regular position is reasonable.",
            stock.symbol,
            profile.risk_level.as_str()
        ),
        std::cmp::Ordering::Greater => format!(
            "{} is steadier than your {} risk tolerance requires: it can anchor a position.",
            stock.symbol,
            profile.risk_level.as_str()
        ),
    };
    let timing = match (profile.time_horizon, stock.range_position() >= 0.8) {
        (TimeHorizon::Short, true) => {
            "Over a short horizon, buying near the 52-week high leaves little room: wait for a pullback or use limit orders."
        }
        (TimeHorizon::Short, false) => {
            "Over a short horizon, daily swings dominate: set a stop-loss and a target before buying."
        }
        (TimeHorizon::Medium, _) => {
            "Over a medium horizon, build the position in two or three steps to average the entry price."
        }
        (TimeHorizon::Long, _) => {
            "Over a long horizon, dollar-cost averaging smooths the entry; revisit the valuation yearly."
        }
    };
    format!(
        "Advice on {} ({}) for a {}-risk, {}-term investor:\n{facts}\nSuggestion: {fit} {timing}\n{DISCLAIMER}",
        stock.name,
        stock.symbol,
        profile.risk_level.as_str(),
        profile.time_horizon.as_str(),
    )
}

/// What the model is asked for a headline.
pub(super) fn headline_prompt(stock: &Stock) -> String {
    format!(
        "Write one market-news headline (at most 15 words) about {} ({}), {} sector. \
         Facts: price {}, market cap {}, P/E {:.1}, average volume {} shares, \
         52-week range {} - {} ({:.0}% of the way up). Reply with the headline only.",
        stock.name,
        stock.symbol,
        stock.sector,
        money(stock.price),
        humanize(stock.market_cap),
        stock.pe_ratio,
        humanize(stock.volume as f64),
        money(stock.week_52_low),
        money(stock.week_52_high),
        stock.range_position() * 100.0,
    )
}

/// The marker on a headline that no model wrote.
pub(super) const TEMPLATE_LABEL: &str =
    "[Template headline, not model-generated: this client does not support sampling]";

/// A headline from a template, for clients that cannot sample.
pub(super) fn fallback_headline(stock: &Stock) -> String {
    let position = stock.range_position();
    let trend = if position >= 0.8 {
        "trades near its 52-week high"
    } else if position <= 0.2 {
        "trades near its 52-week low"
    } else {
        "holds mid-range"
    };
    format!(
        "{TEMPLATE_LABEL}\n{} ({}) {trend} at {} as {} shares change hands",
        stock.name,
        stock.symbol,
        money(stock.price),
        humanize(stock.volume as f64)
    )
}

#[cfg(test)]
mod tests {
    use rmcp::model::ElicitationSchema;

    use super::*;
    use crate::stock::data::lookup;

    fn stock(symbol: &str) -> &'static Stock {
        lookup(symbol).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_profile_form_is_a_valid_elicitation_schema_with_enums() {
        let schema = ElicitationSchema::from_type::<InvestorProfile>()
            .unwrap_or_else(|e| panic!("schema: {e}"));
        let json = serde_json::to_value(&schema).unwrap_or_default();
        assert_eq!(
            json["properties"]["risk_level"]["enum"],
            serde_json::json!(["low", "medium", "high"])
        );
        assert_eq!(
            json["properties"]["time_horizon"]["enum"],
            serde_json::json!(["short", "medium", "long"])
        );
        assert!(ElicitationSchema::from_type::<WeekRangeChoice>().is_ok());
    }

    #[test]
    fn advice_follows_the_profile() {
        let tsla = stock("TSLA");
        let cautious = InvestorProfile {
            risk_level: RiskLevel::Low,
            time_horizon: TimeHorizon::Long,
        };
        let text = advice(tsla, Some(cautious));
        assert!(
            text.starts_with("Advice on Tesla, Inc. (TSLA) for a low-risk, long-term investor:")
        );
        assert!(text.contains("more volatile than your low risk tolerance"));
        assert!(text.contains("dollar-cost averaging"));
        assert_eq!(text, advice(tsla, Some(cautious)));

        let bold = InvestorProfile {
            risk_level: RiskLevel::High,
            time_horizon: TimeHorizon::Short,
        };
        let nvda = advice(stock("NVDA"), Some(bold));
        assert!(nvda.contains("matches your high risk tolerance"));
        assert!(nvda.contains("near the 52-week high"), "{nvda}");

        let general = advice(tsla, None);
        assert!(general.contains("not personalised"));
        assert!(!general.contains("risk tolerance allows"));
    }

    #[test]
    fn facts_and_headlines_use_the_data() {
        let aapl = stock("AAPL");
        let facts = fact_lines(aapl);
        assert!(facts.contains("P/E 24.8, reasonably valued; market cap 2.35T"));
        assert!(
            facts.contains("$150.25 is 35% of the way up its 52-week range ($124.17 - $198.23)")
        );
        assert!(headline_prompt(aapl).contains("Apple Inc. (AAPL)"));
        let fallback = fallback_headline(aapl);
        assert!(fallback.starts_with(TEMPLATE_LABEL));
        assert!(fallback.contains("Apple Inc. (AAPL) holds mid-range at $150.25 as 52.3M shares"));
        assert_eq!(RiskLevel::parse(" High "), Ok(RiskLevel::High));
        assert!(RiskLevel::parse("extreme").is_err());
    }
}
