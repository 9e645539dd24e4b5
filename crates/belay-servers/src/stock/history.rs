//! Deterministic daily price history.
//!
//! Every stock's history is one fixed random walk seeded from its symbol, generated
//! *backwards* from [`ANCHOR`] (whose close is the current price) over weekdays only
//! (no holidays). Step `i` uses only its own draws, so a period is exactly the newest
//! rows of any longer one: the 5d history is the tail of the 1y history. The walk is
//! kept inside the stock's 52-week range, so the history agrees with the snapshot.

use std::fmt;

use super::data::{Stock, round_to};

/// The last trading day of the mock data (a Friday). Its close is the current price.
pub(super) const ANCHOR: Date = Date {
    year: 2023,
    month: 11,
    day: 17,
};

/// A history length `get_stock_history` and the analysis prompt accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Period {
    Day,
    FiveDays,
    Month,
    ThreeMonths,
    SixMonths,
    Year,
}

impl Period {
    pub(super) const ALL: [Period; 6] = [
        Period::Day,
        Period::FiveDays,
        Period::Month,
        Period::ThreeMonths,
        Period::SixMonths,
        Period::Year,
    ];

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Period::Day => "1d",
            Period::FiveDays => "5d",
            Period::Month => "1mo",
            Period::ThreeMonths => "3mo",
            Period::SixMonths => "6mo",
            Period::Year => "1y",
        }
    }

    /// Rows in the history: one per trading day (21 a month, 252 a year).
    pub(super) fn trading_days(self) -> usize {
        match self {
            Period::Day => 1,
            Period::FiveDays => 5,
            Period::Month => 21,
            Period::ThreeMonths => 63,
            Period::SixMonths => 126,
            Period::Year => 252,
        }
    }

    /// Parses `1d`, `5D`, ` 1mo `...; the error text lists the valid periods.
    pub(super) fn parse(text: &str) -> Result<Period, String> {
        let wanted = text.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == wanted)
            .ok_or_else(|| {
                format!(
                    "Unknown period \"{}\". Valid periods: {}.",
                    text.trim(),
                    Self::names().join(", ")
                )
            })
    }

    pub(super) fn names() -> Vec<&'static str> {
        Self::ALL.into_iter().map(Period::as_str).collect()
    }
}

/// A calendar date (proleptic Gregorian), printed as `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Date {
    year: i64,
    month: u32,
    day: u32,
}

impl Date {
    /// Days since 1970-01-01 (H. Hinnant's `days_from_civil`).
    fn to_days(self) -> i64 {
        let y = if self.month <= 2 {
            self.year - 1
        } else {
            self.year
        };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The inverse of [`Date::to_days`] (`civil_from_days`).
    fn from_days(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Date { year, month, day }
    }

    /// True on Saturday and Sunday.
    fn is_weekend(self) -> bool {
        // 1970-01-01 was a Thursday: index 0 = Thursday, 2 = Saturday, 3 = Sunday.
        matches!(self.to_days().rem_euclid(7), 2 | 3)
    }

    /// The weekday before this date.
    fn previous_trading_day(self) -> Date {
        let mut days = self.to_days() - 1;
        while Date::from_days(days).is_weekend() {
            days -= 1;
        }
        Date::from_days(days)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// SplitMix64: tiny, fast and good enough for mock prices. Not for anything secret.
#[derive(Debug, Clone)]
pub(super) struct SplitMix64(u64);

impl SplitMix64 {
    pub(super) fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// Seeded from the FNV-1a hash of `text`.
    pub(super) fn from_text(text: &str) -> Self {
        let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        Self::new(hash)
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub(super) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Roughly normal with mean 0 and standard deviation 1 (sum of three uniforms).
    fn next_gaussianish(&mut self) -> f64 {
        (self.next_f64() + self.next_f64() + self.next_f64() - 1.5) * 2.0
    }
}

/// One trading day. Prices are rounded to cents.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Bar {
    pub(super) date: Date,
    pub(super) open: f64,
    pub(super) high: f64,
    pub(super) low: f64,
    pub(super) close: f64,
    pub(super) volume: u64,
}

/// The newest `period.trading_days()` bars of `stock`, oldest first.
pub(super) fn history(stock: &Stock, period: Period) -> Vec<Bar> {
    let (low_bound, high_bound) = (stock.week_52_low, stock.week_52_high);
    let clamp = |v: f64| v.clamp(low_bound, high_bound);
    let mid = (low_bound + high_bound) / 2.0;
    let vol = stock.daily_volatility;
    let mut rng = SplitMix64::from_text(stock.symbol);
    let mut bars = Vec::with_capacity(period.trading_days());
    let mut date = ANCHOR;
    let mut close = stock.price;
    for _ in 0..period.trading_days() {
        // Walk one day back: the previous close, nudged toward mid-range so the walk
        // does not pin itself to a bound of the 52-week range.
        let previous = clamp(close / (1.0 + vol * rng.next_gaussianish()));
        let previous = clamp(previous + 0.02 * (mid - previous));
        let open = clamp(previous * (1.0 + 0.3 * vol * (2.0 * rng.next_f64() - 1.0)));
        let high = clamp(open.max(close) * (1.0 + 0.6 * vol * rng.next_f64()));
        let low = clamp(open.min(close) * (1.0 - 0.6 * vol * rng.next_f64()));
        let volume = (stock.volume as f64 * (0.6 + 0.8 * rng.next_f64())).round() as u64;
        bars.push(Bar {
            date,
            open: round_to(open, 2),
            high: round_to(high, 2),
            low: round_to(low, 2),
            close: round_to(close, 2),
            volume,
        });
        close = previous;
        date = date.previous_trading_day();
    }
    bars.reverse();
    bars
}

/// `Date,Open,High,Low,Close,Volume` then one line per bar, oldest first.
pub(super) fn to_csv(bars: &[Bar]) -> String {
    let mut csv = String::from("Date,Open,High,Low,Close,Volume\n");
    for b in bars {
        csv.push_str(&format!(
            "{},{:.2},{:.2},{:.2},{:.2},{}\n",
            b.date, b.open, b.high, b.low, b.close, b.volume
        ));
    }
    csv
}

/// How a stock did over a history.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Performance {
    pub(super) first_date: Date,
    pub(super) last_date: Date,
    pub(super) start_close: f64,
    pub(super) end_close: f64,
    /// Percent change from the first close to the last.
    pub(super) change_pct: f64,
    /// Highest high and lowest low of the period.
    pub(super) high: f64,
    pub(super) low: f64,
}

/// The performance summary of `bars` (oldest first); `None` when empty.
pub(super) fn performance(bars: &[Bar]) -> Option<Performance> {
    let (first, last) = (bars.first()?, bars.last()?);
    Some(Performance {
        first_date: first.date,
        last_date: last.date,
        start_close: first.close,
        end_close: last.close,
        change_pct: (last.close - first.close) / first.close * 100.0,
        high: bars.iter().map(|b| b.high).fold(f64::MIN, f64::max),
        low: bars.iter().map(|b| b.low).fold(f64::MAX, f64::min),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stock::data::{STOCKS, lookup};

    #[test]
    fn splitmix_and_fnv_match_reference_vectors() {
        // SplitMix64 seeded with 0 (Vigna's reference implementation).
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(rng.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        // FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c; the seed is that hash.
        let mut seeded = SplitMix64::from_text("a");
        let mut direct = SplitMix64::new(0xaf63_dc4c_8601_ec8c);
        assert_eq!(seeded.next_u64(), direct.next_u64());
        let u = SplitMix64::new(7).next_f64();
        assert!((0.0..1.0).contains(&u));
    }

    #[test]
    fn dates_round_trip_and_skip_weekends() {
        assert_eq!(ANCHOR.to_string(), "2023-11-17");
        assert_eq!(Date::from_days(ANCHOR.to_days()), ANCHOR);
        assert_eq!(Date::from_days(0).to_string(), "1970-01-01");
        assert!(!ANCHOR.is_weekend());
        // Friday -> Thursday; Monday -> the Friday before.
        assert_eq!(ANCHOR.previous_trading_day().to_string(), "2023-11-16");
        let monday = Date {
            year: 2023,
            month: 11,
            day: 13,
        };
        assert_eq!(monday.previous_trading_day().to_string(), "2023-11-10");
        let march_first = Date {
            year: 2024,
            month: 3,
            day: 1,
        };
        assert_eq!(march_first.previous_trading_day().to_string(), "2024-02-29");
    }

    #[test]
    fn periods_have_fixed_lengths_and_parse_loosely() {
        let days: Vec<_> = Period::ALL.iter().map(|p| p.trading_days()).collect();
        assert_eq!(days, vec![1, 5, 21, 63, 126, 252]);
        assert_eq!(Period::parse(" 1MO "), Ok(Period::Month));
        assert_eq!(
            Period::parse("2w"),
            Err("Unknown period \"2w\". Valid periods: 1d, 5d, 1mo, 3mo, 6mo, 1y.".into())
        );
    }

    #[test]
    fn history_is_deterministic_and_ends_at_the_price() {
        for stock in &STOCKS {
            for period in Period::ALL {
                let bars = history(stock, period);
                assert_eq!(bars, history(stock, period));
                assert_eq!(bars.len(), period.trading_days());
                let last = bars[bars.len() - 1];
                assert_eq!(last.close, stock.price, "{} {period:?}", stock.symbol);
                assert_eq!(last.date, ANCHOR);
            }
        }
    }

    #[test]
    fn shorter_periods_are_the_tail_of_longer_ones() {
        let Ok(nvda) = lookup("NVDA") else {
            panic!("NVDA is in the data");
        };
        let year = history(nvda, Period::Year);
        let month = history(nvda, Period::Month);
        assert_eq!(month.as_slice(), &year[year.len() - 21..]);
        assert_ne!(
            history(nvda, Period::Year),
            history(&STOCKS[0], Period::Year)
        );
    }

    #[test]
    fn bars_are_well_formed_and_inside_the_52_week_range() {
        for stock in &STOCKS {
            let bars = history(stock, Period::Year);
            for pair in bars.windows(2) {
                assert!(pair[0].date < pair[1].date);
            }
            for b in &bars {
                assert!(!b.date.is_weekend());
                assert!(b.high >= b.open.max(b.close) && b.low <= b.open.min(b.close));
                assert!(b.low >= stock.week_52_low && b.high <= stock.week_52_high);
                assert!(b.volume > stock.volume / 2 && b.volume < stock.volume * 3 / 2);
            }
        }
    }

    #[test]
    fn csv_and_performance_describe_the_bars() {
        let Ok(aapl) = lookup("AAPL") else {
            panic!("AAPL is in the data");
        };
        let bars = history(aapl, Period::FiveDays);
        let csv = to_csv(&bars);
        let lines: Vec<_> = csv.lines().collect();
        assert_eq!(lines[0], "Date,Open,High,Low,Close,Volume");
        assert_eq!(lines.len(), 6);
        assert!(lines[5].starts_with("2023-11-17,"));
        assert!(lines[5].contains(",150.25,"));
        assert!(lines[1].starts_with("2023-11-13,"));

        let perf = performance(&bars).unwrap_or_else(|| panic!("bars are not empty"));
        assert_eq!(perf.end_close, 150.25);
        assert_eq!(perf.start_close, bars[0].close);
        let expected = (150.25 - bars[0].close) / bars[0].close * 100.0;
        assert!((perf.change_pct - expected).abs() < 1e-9);
        assert!(perf.high >= bars.iter().map(|b| b.close).fold(0.0, f64::max));
        assert!(perf.low <= bars.iter().map(|b| b.close).fold(f64::MAX, f64::min));
        assert_eq!(performance(&[]), None);
    }
}
