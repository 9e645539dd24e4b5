//! A calendar date without a date crate: days since 1970-01-01 (UTC), converted with
//! Howard Hinnant's civil-calendar algorithms.

use std::{
    fmt,
    time::{SystemTime, UNIX_EPOCH},
};

/// A day in the proleptic Gregorian calendar, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    days: i64,
}

impl Date {
    /// The date `days` after 1970-01-01 (negative for earlier dates).
    pub const fn from_days_since_epoch(days: i64) -> Date {
        Date { days }
    }

    /// The date for `year-month-day`, or `None` if no such day exists.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Date> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        let y = i64::from(year) - i64::from(month <= 2);
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let m = i64::from(month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        Some(Date {
            days: era * 146_097 + doe - 719_468,
        })
    }

    /// Today in UTC, from the system clock (1970-01-01 if the clock is before it).
    pub fn today() -> Date {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Date {
            days: i64::try_from(secs / 86_400).unwrap_or(0),
        }
    }

    /// Days since 1970-01-01.
    pub fn days_since_epoch(self) -> i64 {
        self.days
    }

    /// The date `n` days later.
    pub fn plus_days(self, n: i64) -> Date {
        Date {
            days: self.days.saturating_add(n),
        }
    }

    /// `(year, month, day)`.
    pub fn ymd(self) -> (i32, u32, u32) {
        let z = self.days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        // Every i64 day count this type can reach maps into these ranges.
        (
            i32::try_from(year).unwrap_or(i32::MAX),
            u32::try_from(month).unwrap_or(1),
            u32::try_from(day).unwrap_or(1),
        )
    }

    /// 1 for January 1st, up to 366.
    pub fn day_of_year(self) -> u32 {
        let (year, _, _) = self.ymd();
        let jan1 = Date::from_ymd(year, 1, 1).map_or(self.days, |d| d.days);
        u32::try_from(self.days - jan1 + 1).unwrap_or(1)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(
            Date::from_ymd(1970, 1, 1),
            Some(Date::from_days_since_epoch(0))
        );
        assert_eq!(
            Date::from_ymd(2000, 3, 1).map(Date::days_since_epoch),
            Some(11_017)
        );
        assert_eq!(
            Date::from_ymd(1969, 12, 31).map(Date::days_since_epoch),
            Some(-1)
        );
        assert_eq!(
            Date::from_days_since_epoch(20_000).to_string(),
            "2024-10-04"
        );
    }

    #[test]
    fn invalid_dates_are_rejected() {
        assert_eq!(Date::from_ymd(2023, 2, 29), None);
        assert_eq!(Date::from_ymd(1900, 2, 29), None);
        assert_eq!(Date::from_ymd(2024, 13, 1), None);
        assert_eq!(Date::from_ymd(2024, 4, 31), None);
        assert_eq!(Date::from_ymd(2024, 1, 0), None);
        assert!(Date::from_ymd(2000, 2, 29).is_some());
    }

    #[test]
    fn round_trips_across_four_centuries() {
        let start = Date::from_ymd(1899, 12, 25).map_or(0, Date::days_since_epoch);
        for days in start..start + 146_097 + 10 {
            let date = Date::from_days_since_epoch(days);
            let (y, m, d) = date.ymd();
            assert_eq!(Date::from_ymd(y, m, d), Some(date), "{y}-{m}-{d}");
        }
    }

    #[test]
    fn day_of_year_and_arithmetic() {
        let d = |y, m, day| Date::from_ymd(y, m, day).unwrap_or(Date::from_days_since_epoch(0));
        assert_eq!(d(2024, 1, 1).day_of_year(), 1);
        assert_eq!(d(2024, 12, 31).day_of_year(), 366);
        assert_eq!(d(2023, 12, 31).day_of_year(), 365);
        assert_eq!(d(2024, 2, 28).plus_days(2), d(2024, 3, 1));
        assert_eq!(d(2024, 12, 31).plus_days(1).to_string(), "2025-01-01");
    }

    #[test]
    fn today_is_after_this_code_was_written() {
        assert!(Date::today() > Date::from_ymd(2025, 1, 1).unwrap_or(Date::today()));
    }
}
