//! The mock market: seven large-cap stocks with fixed, realistic-looking figures, plus
//! the number formatting every tool shares.

use std::{collections::BTreeMap, fmt};

use serde::Serialize;

/// One stock's snapshot. Figures are mock data frozen at [`super::history::ANCHOR`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(super) struct Stock {
    pub(super) symbol: &'static str,
    pub(super) name: &'static str,
    pub(super) sector: &'static str,
    /// Last price, USD.
    pub(super) price: f64,
    /// Market capitalisation, USD.
    pub(super) market_cap: f64,
    /// Trailing price/earnings ratio.
    pub(super) pe_ratio: f64,
    /// Average daily volume, shares.
    pub(super) volume: u64,
    pub(super) week_52_low: f64,
    pub(super) week_52_high: f64,
    /// Typical daily move as a fraction of price; drives the generated history.
    #[serde(skip)]
    pub(super) daily_volatility: f64,
}

impl Stock {
    /// Where the price sits in its 52-week range: 0 at the low, 1 at the high.
    pub(super) fn range_position(&self) -> f64 {
        (self.price - self.week_52_low) / (self.week_52_high - self.week_52_low)
    }
}

/// Every stock, in the order the tickers are listed to users.
pub(super) const STOCKS: [Stock; 7] = [
    Stock {
        symbol: "AAPL",
        name: "Apple Inc.",
        sector: "Technology",
        price: 150.25,
        market_cap: 2.35e12,
        pe_ratio: 24.8,
        volume: 52_340_000,
        week_52_low: 124.17,
        week_52_high: 198.23,
        daily_volatility: 0.015,
    },
    Stock {
        symbol: "MSFT",
        name: "Microsoft Corporation",
        sector: "Technology",
        price: 380.50,
        market_cap: 2.83e12,
        pe_ratio: 35.2,
        volume: 22_110_000,
        week_52_low: 275.37,
        week_52_high: 420.82,
        daily_volatility: 0.014,
    },
    Stock {
        symbol: "GOOGL",
        name: "Alphabet Inc.",
        sector: "Communication Services",
        price: 140.80,
        market_cap: 1.77e12,
        pe_ratio: 26.1,
        volume: 25_630_000,
        week_52_low: 102.21,
        week_52_high: 153.78,
        daily_volatility: 0.018,
    },
    Stock {
        symbol: "AMZN",
        name: "Amazon.com, Inc.",
        sector: "Consumer Discretionary",
        price: 145.30,
        market_cap: 1.50e12,
        pe_ratio: 58.4,
        volume: 41_250_000,
        week_52_low: 88.12,
        week_52_high: 155.63,
        daily_volatility: 0.020,
    },
    Stock {
        symbol: "TSLA",
        name: "Tesla, Inc.",
        sector: "Consumer Discretionary",
        price: 242.60,
        market_cap: 771.0e9,
        pe_ratio: 70.3,
        volume: 108_540_000,
        week_52_low: 152.37,
        week_52_high: 299.29,
        daily_volatility: 0.035,
    },
    Stock {
        symbol: "META",
        name: "Meta Platforms, Inc.",
        sector: "Communication Services",
        price: 335.20,
        market_cap: 862.4e9,
        pe_ratio: 28.9,
        volume: 15_820_000,
        week_52_low: 167.66,
        week_52_high: 353.83,
        daily_volatility: 0.024,
    },
    Stock {
        symbol: "NVDA",
        name: "NVIDIA Corporation",
        sector: "Technology",
        price: 485.10,
        market_cap: 1.20e12,
        pe_ratio: 65.7,
        volume: 44_310_000,
        week_52_low: 138.84,
        week_52_high: 505.48,
        daily_volatility: 0.030,
    },
];

/// A symbol that is not in [`STOCKS`]. Its message lists the valid tickers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct UnknownTicker(pub(super) Vec<String>);

impl fmt::Display for UnknownTicker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted: Vec<_> = self.0.iter().map(|s| format!("\"{s}\"")).collect();
        let noun = if self.0.len() == 1 {
            "ticker"
        } else {
            "tickers"
        };
        write!(
            f,
            "Unknown {noun} {}. Valid tickers: {}.",
            quoted.join(", "),
            tickers().join(", ")
        )
    }
}

/// Symbols are case-insensitive and may carry stray spaces.
pub(super) fn normalize(symbol: &str) -> String {
    symbol.trim().to_ascii_uppercase()
}

/// The stock `symbol` names, in any case.
pub(super) fn lookup(symbol: &str) -> Result<&'static Stock, UnknownTicker> {
    let wanted = normalize(symbol);
    STOCKS
        .iter()
        .find(|s| s.symbol == wanted)
        .ok_or(UnknownTicker(vec![wanted]))
}

/// Every ticker, in listing order.
pub(super) fn tickers() -> Vec<&'static str> {
    STOCKS.iter().map(|s| s.symbol).collect()
}

/// Sector name to its tickers, sectors sorted by name.
pub(super) fn sectors() -> BTreeMap<&'static str, Vec<&'static str>> {
    let mut sectors: BTreeMap<_, Vec<_>> = BTreeMap::new();
    for stock in &STOCKS {
        sectors.entry(stock.sector).or_default().push(stock.symbol);
    }
    sectors
}

/// Tickers starting with `prefix`, ignoring case (completion).
pub(super) fn tickers_starting_with(prefix: &str) -> Vec<String> {
    let prefix = normalize(prefix);
    STOCKS
        .iter()
        .filter(|s| s.symbol.starts_with(&prefix))
        .map(|s| s.symbol.to_owned())
        .collect()
}

/// Rounds to `decimals` places (half away from zero).
pub(super) fn round_to(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// A large number with a unit suffix: `2.35T`, `350.5B`, `45.2M`, `12.0K`, `999`.
/// Trillions keep two decimals, the smaller units one; a value that rounds up to the
/// next unit moves to it (`999.96B` is `1.00T`).
pub(super) fn humanize(value: f64) -> String {
    const UNITS: [(f64, &str, i32); 5] = [
        (1e12, "T", 2),
        (1e9, "B", 1),
        (1e6, "M", 1),
        (1e3, "K", 1),
        (1.0, "", 0),
    ];
    let sign = if value < 0.0 { "-" } else { "" };
    let magnitude = value.abs();
    let mut unit = UNITS
        .iter()
        .position(|(scale, ..)| magnitude >= *scale)
        .unwrap_or(UNITS.len() - 1);
    if unit > 0 && round_to(magnitude / UNITS[unit].0, UNITS[unit].2) >= 1000.0 {
        unit -= 1;
    }
    let (scale, suffix, decimals) = UNITS[unit];
    let scaled = round_to(magnitude / scale, decimals);
    format!("{sign}{scaled:.prec$}{suffix}", prec = decimals as usize)
}

/// A dollar amount with thousands separators: `$1,502.50`, `-$3.10`.
pub(super) fn money(value: f64) -> String {
    let sign = if value < 0.0 { "-" } else { "" };
    let fixed = format!("{:.2}", value.abs());
    let (whole, cents) = fixed.split_once('.').unwrap_or((&fixed, "00"));
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{sign}${grouped}.{cents}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humanize_picks_the_unit_and_precision() {
        assert_eq!(humanize(1.23e12), "1.23T");
        assert_eq!(humanize(2.35e12), "2.35T");
        assert_eq!(humanize(350.5e9), "350.5B");
        assert_eq!(humanize(771.0e9), "771.0B");
        assert_eq!(humanize(45_200_000.0), "45.2M");
        assert_eq!(humanize(52_340_000.0), "52.3M");
        assert_eq!(humanize(12_040.0), "12.0K");
        assert_eq!(humanize(999.0), "999");
        assert_eq!(humanize(0.0), "0");
        assert_eq!(humanize(-45_200_000.0), "-45.2M");
    }

    #[test]
    fn humanize_carries_into_the_next_unit() {
        assert_eq!(humanize(999.96e9), "1.00T");
        assert_eq!(humanize(999_960_000.0), "1.0B");
        assert_eq!(humanize(999.6), "1.0K");
    }

    #[test]
    fn money_groups_thousands() {
        assert_eq!(money(1502.5), "$1,502.50");
        assert_eq!(money(150.25), "$150.25");
        assert_eq!(money(1_234_567.891), "$1,234,567.89");
        assert_eq!(money(0.0), "$0.00");
        assert_eq!(money(-3.1), "-$3.10");
    }

    #[test]
    fn lookup_is_case_insensitive_and_lists_tickers_on_failure() {
        assert_eq!(lookup(" aapl ").map(|s| s.name), Ok("Apple Inc."));
        let err = lookup("xyz")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(
            err,
            "Unknown ticker \"XYZ\". Valid tickers: AAPL, MSFT, GOOGL, AMZN, TSLA, META, NVDA."
        );
    }

    #[test]
    fn the_data_is_self_consistent() {
        for stock in &STOCKS {
            assert!(
                stock.week_52_low < stock.price && stock.price < stock.week_52_high,
                "{} price outside its 52-week range",
                stock.symbol
            );
            assert!(stock.market_cap > 1e11 && stock.pe_ratio > 0.0 && stock.volume > 0);
            assert_eq!(round_to(stock.price, 2), stock.price);
        }
        let sectors = sectors();
        assert_eq!(sectors["Technology"], vec!["AAPL", "MSFT", "NVDA"]);
        assert_eq!(sectors.values().map(Vec::len).sum::<usize>(), STOCKS.len());
    }

    #[test]
    fn completion_matches_prefixes_ignoring_case() {
        assert_eq!(tickers_starting_with("m"), vec!["MSFT", "META"]);
        assert_eq!(tickers_starting_with("Goo"), vec!["GOOGL"]);
        assert_eq!(tickers_starting_with("").len(), 7);
        assert!(tickers_starting_with("Q").is_empty());
    }
}
