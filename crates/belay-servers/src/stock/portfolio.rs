//! `calculate_portfolio_value`: per-holding breakdown and total, with every bad holding
//! named in one tool error.

use std::collections::BTreeMap;

use rmcp::{ErrorData, model::CallToolResult};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    data::{Stock, UnknownTicker, lookup, money, normalize, round_to},
    tools::{tool_error, with_structure},
};

#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct PortfolioArgs {
    /// Shares held per ticker symbol, e.g. {"AAPL": 10, "MSFT": 2.5}.
    pub(super) holdings: BTreeMap<String, f64>,
}

/// One line of a portfolio valuation.
#[derive(Debug, Serialize, JsonSchema)]
pub(super) struct HoldingValue {
    symbol: String,
    shares: f64,
    price: f64,
    /// shares x price, USD, rounded to cents.
    value: f64,
}

/// Structured output of `calculate_portfolio_value`.
#[derive(Debug, Serialize, JsonSchema)]
pub(super) struct PortfolioValue {
    /// One entry per ticker, sorted by symbol.
    holdings: Vec<HoldingValue>,
    /// Sum of the holdings' values, USD, rounded to cents.
    total_value: f64,
}

/// Quantities print without trailing zeros: `10`, `2.5`.
fn shares_text(shares: f64) -> String {
    let text = format!("{shares:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Values `holdings` (shares per symbol, any case).
pub(super) fn value(holdings: BTreeMap<String, f64>) -> Result<CallToolResult, ErrorData> {
    let mut unknown_symbols = Vec::new();
    let mut bad_shares = Vec::new();
    // Symbols are case-insensitive, so "aapl" and "AAPL" are one holding.
    let mut merged: BTreeMap<String, (f64, &Stock)> = BTreeMap::new();
    for (symbol, shares) in holdings {
        if !shares.is_finite() || shares < 0.0 {
            bad_shares.push(format!("{} ({shares})", normalize(&symbol)));
        }
        match lookup(&symbol) {
            Ok(stock) => {
                merged
                    .entry(stock.symbol.to_owned())
                    .or_insert((0.0, stock))
                    .0 += shares
            }
            Err(UnknownTicker(names)) => unknown_symbols.extend(names),
        }
    }
    let mut problems = Vec::new();
    if !unknown_symbols.is_empty() {
        problems.push(UnknownTicker(unknown_symbols).to_string());
    }
    if !bad_shares.is_empty() {
        problems.push(format!(
            "Share counts must be finite and not negative: {}.",
            bad_shares.join(", ")
        ));
    }
    if !problems.is_empty() {
        return Ok(tool_error(problems.join("\n")));
    }
    let mut lines = Vec::new();
    let mut rows = Vec::new();
    let mut total = 0.0;
    for (symbol, (shares, stock)) in merged {
        let value = shares * stock.price;
        total += value;
        lines.push(format!(
            "{symbol}: {} x {} = {}",
            shares_text(shares),
            money(stock.price),
            money(value)
        ));
        rows.push(HoldingValue {
            symbol,
            shares,
            price: stock.price,
            value: round_to(value, 2),
        });
    }
    if !total.is_finite() {
        return Ok(tool_error(
            "The portfolio value overflows; use smaller share counts.",
        ));
    }
    lines.push(format!("Total: {}", money(total)));
    let value = PortfolioValue {
        holdings: rows,
        total_value: round_to(total, 2),
    };
    with_structure(lines.join("\n"), &value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_print_without_trailing_zeros() {
        assert_eq!(shares_text(10.0), "10");
        assert_eq!(shares_text(2.5), "2.5");
        assert_eq!(shares_text(0.125), "0.125");
    }

    #[test]
    fn case_variants_merge_and_bad_input_is_refused() {
        let holdings = BTreeMap::from([("aapl".to_owned(), 4.0), ("AAPL".to_owned(), 6.0)]);
        let result = value(holdings).unwrap_or_else(|e| panic!("{e:?}"));
        let structured = result.structured_content.unwrap_or_default();
        assert_eq!(structured["holdings"][0]["shares"], 10.0);
        assert_eq!(structured["total_value"], 1502.5);

        let bad = BTreeMap::from([("XYZ".to_owned(), 1.0), ("TSLA".to_owned(), f64::NAN)]);
        let result = value(bad).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(result.is_error, Some(true));
        let text: String = result
            .content
            .iter()
            .filter_map(|c| c.as_text())
            .map(|t| t.text.clone())
            .collect();
        assert!(
            text.contains("\"XYZ\"") && text.contains("TSLA (NaN)"),
            "{text}"
        );

        let huge = BTreeMap::from([("NVDA".to_owned(), f64::MAX)]);
        let result = value(huge).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(result.is_error, Some(true));
    }
}
