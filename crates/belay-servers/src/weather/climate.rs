//! Mock weather: a bundled table of cities with rough climate baselines, and a pure
//! function from (city, date) to that day's weather. The same city and date always give
//! the same numbers, on every machine, so tests can assert exact values.

use std::f64::consts::TAU;

use super::date::Date;

/// A city and the rough shape of its climate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct City {
    /// Display name.
    pub name: &'static str,
    /// Country name.
    pub country: &'static str,
    /// Degrees north (negative: south).
    pub latitude: f64,
    /// Degrees east (negative: west).
    pub longitude: f64,
    mean_c: f64,
    /// Half the gap between the warmest and the coldest month.
    seasonal_swing_c: f64,
    /// Typical gap between a day's low and high.
    daily_range_c: f64,
    humidity: f64,
    /// Share of days with precipitation.
    wet_share: f64,
    wind_kph: f64,
}

const fn city(
    name: &'static str,
    country: &'static str,
    (latitude, longitude): (f64, f64),
    (mean_c, seasonal_swing_c, daily_range_c): (f64, f64, f64),
    (humidity, wet_share, wind_kph): (f64, f64, f64),
) -> City {
    City {
        name,
        country,
        latitude,
        longitude,
        mean_c,
        seasonal_swing_c,
        daily_range_c,
        humidity,
        wet_share,
        wind_kph,
    }
}

/// The cities the server knows, with approximate real climate baselines.
pub const CITIES: &[City] = &[
    city(
        "London",
        "United Kingdom",
        (51.5074, -0.1278),
        (11.3, 7.0, 8.0),
        (75.0, 0.45, 15.0),
    ),
    city(
        "Paris",
        "France",
        (48.8566, 2.3522),
        (12.3, 8.0, 9.0),
        (72.0, 0.38, 13.0),
    ),
    city(
        "Berlin",
        "Germany",
        (52.52, 13.405),
        (10.0, 9.7, 9.0),
        (72.0, 0.35, 14.0),
    ),
    city(
        "Moscow",
        "Russia",
        (55.7558, 37.6173),
        (5.8, 13.5, 8.0),
        (77.0, 0.45, 12.0),
    ),
    city(
        "Reykjavik",
        "Iceland",
        (64.1466, -21.9426),
        (4.7, 6.0, 5.0),
        (78.0, 0.55, 22.0),
    ),
    city(
        "New York",
        "United States",
        (40.7128, -74.006),
        (13.0, 12.0, 9.0),
        (63.0, 0.33, 16.0),
    ),
    city(
        "Los Angeles",
        "United States",
        (34.0522, -118.2437),
        (18.6, 4.5, 10.0),
        (65.0, 0.1, 10.0),
    ),
    city(
        "Toronto",
        "Canada",
        (43.6532, -79.3832),
        (9.0, 14.0, 9.0),
        (70.0, 0.35, 15.0),
    ),
    city(
        "Mexico City",
        "Mexico",
        (19.4326, -99.1332),
        (17.5, 2.5, 13.0),
        (55.0, 0.3, 8.0),
    ),
    city(
        "Rio de Janeiro",
        "Brazil",
        (-22.9068, -43.1729),
        (23.8, 3.0, 7.0),
        (79.0, 0.35, 11.0),
    ),
    city(
        "Cairo",
        "Egypt",
        (30.0444, 31.2357),
        (22.5, 7.5, 12.0),
        (50.0, 0.02, 14.0),
    ),
    city(
        "Cape Town",
        "South Africa",
        (-33.9249, 18.4241),
        (17.0, 4.5, 9.0),
        (72.0, 0.25, 20.0),
    ),
    city(
        "Mumbai",
        "India",
        (19.076, 72.8777),
        (27.2, 2.5, 7.0),
        (75.0, 0.3, 12.0),
    ),
    city(
        "Singapore",
        "Singapore",
        (1.3521, 103.8198),
        (27.5, 0.8, 7.0),
        (84.0, 0.45, 9.0),
    ),
    city(
        "Tokyo",
        "Japan",
        (35.6762, 139.6503),
        (16.3, 10.5, 8.0),
        (65.0, 0.33, 12.0),
    ),
    city(
        "Sydney",
        "Australia",
        (-33.8688, 151.2093),
        (18.4, 5.5, 7.0),
        (65.0, 0.32, 17.0),
    ),
];

/// The city called `name`, ignoring case and surrounding spaces.
pub fn find_city(name: &str) -> Option<&'static City> {
    let name = name.trim();
    CITIES.iter().find(|c| c.name.eq_ignore_ascii_case(name))
}

/// One day's weather in one city.
#[derive(Debug, Clone, PartialEq)]
pub struct Day {
    /// Afternoon temperature, °C.
    pub temperature_c: f64,
    /// Highest temperature, °C.
    pub high_c: f64,
    /// Lowest temperature, °C.
    pub low_c: f64,
    /// Sky and precipitation, e.g. "light rain".
    pub conditions: &'static str,
    /// Relative humidity, %.
    pub humidity_percent: u32,
    /// Mean wind speed, km/h.
    pub wind_kph: f64,
    /// Where the wind comes from, on an 8-point compass.
    pub wind_direction: &'static str,
    /// Chance of precipitation, %.
    pub precipitation_chance_percent: u32,
}

/// The weather in `city` on `date`.
pub fn day(city: &City, date: Date) -> Day {
    let mut rng = SplitMix64(fnv1a(city.name) ^ splitmix64(date.days_since_epoch() as u64));
    // Warmest around 19 July in the north and 17 January in the south.
    let peak = if city.latitude >= 0.0 { 200.0 } else { 17.0 };
    let phase = TAU * (f64::from(date.day_of_year()) - peak) / 365.25;
    let seasonal = city.mean_c + city.seasonal_swing_c * phase.cos();
    // A sum of three uniforms: a cheap bell curve, about ±6 °C at the extremes.
    let anomaly = (rng.unit() + rng.unit() + rng.unit() - 1.5) * 4.0;
    let mean = seasonal + anomaly;

    let wet = rng.unit() < city.wet_share;
    let roll = rng.unit();
    let conditions = match (wet, roll) {
        (true, _) if mean < 1.0 => "snow",
        (true, r) if mean > 20.0 && r < 0.3 => "thunderstorms",
        (true, r) if r < 0.6 => "light rain",
        (true, _) => "rain",
        (false, r) if r < 0.05 && city.humidity >= 70.0 => "fog",
        (false, r) if r < 0.4 => "sunny",
        (false, r) if r < 0.75 => "partly cloudy",
        (false, _) => "cloudy",
    };
    // Clouds and rain damp the swing between night and day.
    let damping = match conditions {
        "sunny" => 1.0,
        "partly cloudy" => 0.85,
        _ => 0.6,
    };
    let half_range = city.daily_range_c * damping / 2.0;
    let (low, high) = (mean - half_range, mean + half_range);

    let humidity_shift = if wet {
        12.0
    } else if conditions == "sunny" {
        -10.0
    } else {
        0.0
    };
    let humidity = city.humidity + humidity_shift + (rng.unit() - 0.5) * 16.0;
    let storm = if conditions == "thunderstorms" {
        15.0
    } else {
        0.0
    };
    let wind = city.wind_kph * (0.5 + rng.unit()) + storm;
    const COMPASS: [&str; 8] = ["N", "NE", "E", "SE", "S", "SW", "W", "NW"];
    let direction = COMPASS[(rng.next() % 8) as usize];
    let chance = if wet {
        60.0 + rng.unit() * 35.0
    } else {
        rng.unit() * 30.0
    };

    Day {
        temperature_c: round1(low + 0.7 * (high - low)),
        high_c: round1(high),
        low_c: round1(low),
        conditions,
        humidity_percent: humidity.clamp(5.0, 100.0).round() as u32,
        wind_kph: round1(wind),
        wind_direction: direction,
        precipitation_chance_percent: chance.round() as u32,
    }
}

/// Rounds to one decimal, never yielding -0.0 (which would print as "-0.0 °C").
fn round1(x: f64) -> f64 {
    let r = (x * 10.0).round() / 10.0;
    if r == 0.0 { 0.0 } else { r }
}

/// FNV-1a: a stable string hash (std's `DefaultHasher` may change between releases).
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The splitmix64 generator: tiny, fast and good enough for mock weather.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        let out = splitmix64(self.0);
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        out
    }

    /// A uniform value in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> Date {
        Date::from_ymd(y, m, d).unwrap_or(Date::from_days_since_epoch(0))
    }

    fn average_high(name: &str, month: u32) -> f64 {
        let Some(city) = find_city(name) else {
            return f64::NAN;
        };
        let days: Vec<f64> = (2000..2030)
            .map(|y| day(city, date(y, month, 15)).high_c)
            .collect();
        days.iter().sum::<f64>() / days.len() as f64
    }

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // First outputs of the reference splitmix64 seeded with 0.
        let mut rng = SplitMix64(0);
        assert_eq!(rng.next(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn city_lookup_ignores_case_and_spaces() {
        assert_eq!(find_city("  new YORK ").map(|c| c.name), Some("New York"));
        assert_eq!(find_city("NewYork"), None);
        assert_eq!(CITIES.len(), 16);
    }

    #[test]
    fn seasons_follow_the_hemisphere() {
        assert!(average_high("Moscow", 7) > average_high("Moscow", 1) + 20.0);
        assert!(average_high("Sydney", 1) > average_high("Sydney", 7) + 7.0);
        assert!(average_high("Cairo", 7) > average_high("Reykjavik", 7) + 15.0);
    }

    #[test]
    fn every_day_is_self_consistent() {
        for city in CITIES {
            for n in 0..400 {
                let d = day(city, date(2025, 1, 1).plus_days(n));
                assert!(
                    d.low_c <= d.temperature_c && d.temperature_c <= d.high_c,
                    "{d:?}"
                );
                assert!((5..=100).contains(&d.humidity_percent), "{d:?}");
                assert!(
                    d.wind_kph > 0.0 && d.precipitation_chance_percent <= 95,
                    "{d:?}"
                );
                let wet = ["snow", "thunderstorms", "light rain", "rain"].contains(&d.conditions);
                assert_eq!(wet, d.precipitation_chance_percent >= 60, "{d:?}");
                assert!(d.conditions != "snow" || d.temperature_c < 5.0, "{d:?}");
            }
        }
    }

    #[test]
    fn deterministic_but_varied() {
        let (tokyo, paris) = (&CITIES[14], &CITIES[1]);
        let today = date(2025, 3, 14);
        assert_eq!(day(tokyo, today), day(tokyo, today));
        assert_ne!(day(tokyo, today), day(tokyo, today.plus_days(1)));
        assert_ne!(day(tokyo, today), day(paris, today));
        let kinds: std::collections::HashSet<_> = (0..365)
            .map(|n| day(paris, today.plus_days(n)).conditions)
            .collect();
        assert!(kinds.len() >= 5, "{kinds:?}");
    }
}
