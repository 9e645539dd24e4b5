//! The `weather` server: current weather and forecasts for a bundled list of cities.
//!
//! Everything is mock data computed from (city, date) with a seeded hash, so a given city
//! on a given day always reads the same; no network is involved. "Today" comes from a
//! clock the server holds, so tests pin it with [`WeatherServer::on_date`].

mod climate;
mod date;

pub use climate::{CITIES, City, Day, day, find_city};
pub use date::Date;

use crate::results::{structured, tool_error as error};
use belay_mcp::{Parameters, schema::portable_tools};
use rmcp::{
    ServerHandler,
    handler::server::{router::tool::ToolRouter, tool::schema_for_output},
    model::CallToolResult,
    tool, tool_handler, tool_router,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The longest forecast `get_forecast` gives, in days.
pub const MAX_FORECAST_DAYS: i64 = 7;

/// Arguments of `get_weather`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct WeatherArgs {
    /// City name, e.g. "Tokyo" (case-insensitive).
    pub city: String,
}

/// Arguments of `get_forecast`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct ForecastArgs {
    /// City name, e.g. "Tokyo" (case-insensitive).
    pub city: String,
    /// Number of days, 1 to 7, starting today.
    pub days: i64,
}

/// Structured result of `get_weather`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
pub struct CurrentWeather {
    /// City name.
    pub city: String,
    /// Country name.
    pub country: String,
    /// Degrees north.
    pub latitude: f64,
    /// Degrees east.
    pub longitude: f64,
    /// The date, `YYYY-MM-DD`.
    pub date: String,
    /// Temperature, °C.
    pub temperature_c: f64,
    /// e.g. "sunny", "light rain".
    pub conditions: String,
    /// Relative humidity, %.
    pub humidity_percent: u32,
    /// Wind speed, km/h.
    pub wind_kph: f64,
    /// Where the wind comes from: N, NE, E, SE, S, SW, W or NW.
    pub wind_direction: String,
}

/// Structured result of `get_forecast`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
pub struct Forecast {
    /// City name.
    pub city: String,
    /// Country name.
    pub country: String,
    /// One entry per day, starting today.
    pub days: Vec<ForecastDay>,
}

/// One day of a [`Forecast`].
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
pub struct ForecastDay {
    /// The date, `YYYY-MM-DD`.
    pub date: String,
    /// Highest temperature, °C.
    pub high_c: f64,
    /// Lowest temperature, °C.
    pub low_c: f64,
    /// e.g. "sunny", "light rain".
    pub conditions: String,
    /// Relative humidity, %.
    pub humidity_percent: u32,
    /// Wind speed, km/h.
    pub wind_kph: f64,
    /// Where the wind comes from.
    pub wind_direction: String,
    /// Chance of precipitation, %.
    pub precipitation_chance_percent: u32,
}

/// Where the server gets "today" from.
#[derive(Debug, Clone, Copy)]
enum Clock {
    Source(fn() -> Date),
    Fixed(Date),
}

/// Mock weather as an MCP server.
#[derive(Debug, Clone)]
pub struct WeatherServer {
    tool_router: ToolRouter<Self>,
    clock: Clock,
}

impl Default for WeatherServer {
    fn default() -> Self {
        Self::new()
    }
}

#[tool_router]
impl WeatherServer {
    /// A server whose "today" is the system's date (UTC).
    pub fn new() -> Self {
        Self::with_clock(Date::today)
    }

    /// A server that asks `clock` for "today" on every call.
    pub fn with_clock(clock: fn() -> Date) -> Self {
        Self {
            tool_router: portable_tools(Self::tool_router()),
            clock: Clock::Source(clock),
        }
    }

    /// A server for which it is always `date`.
    pub fn on_date(date: Date) -> Self {
        Self {
            tool_router: portable_tools(Self::tool_router()),
            clock: Clock::Fixed(date),
        }
    }

    /// "Today" for this server.
    pub fn today(&self) -> Date {
        match self.clock {
            Clock::Source(clock) => clock(),
            Clock::Fixed(date) => date,
        }
    }

    /// Current weather in a city.
    #[tool(
        description = "Current weather in a city (mock data): temperature in °C, conditions, \
            humidity and wind. Cities: London, Paris, Berlin, Moscow, Reykjavik, New York, \
            Los Angeles, Toronto, Mexico City, Rio de Janeiro, Cairo, Cape Town, Mumbai, \
            Singapore, Tokyo, Sydney.",
        output_schema = schema_for_output::<CurrentWeather>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_weather(&self, Parameters(args): Parameters<WeatherArgs>) -> CallToolResult {
        let city = match lookup(&args.city) {
            Ok(city) => city,
            Err(result) => return result,
        };
        let today = self.today();
        let d = day(city, today);
        let text = format!(
            "{}, {} on {today}: {} °C, {}, humidity {}%, wind {} km/h {}.",
            city.name,
            city.country,
            d.temperature_c,
            d.conditions,
            d.humidity_percent,
            d.wind_kph,
            d.wind_direction
        );
        structured(
            text,
            &CurrentWeather {
                city: city.name.to_owned(),
                country: city.country.to_owned(),
                latitude: city.latitude,
                longitude: city.longitude,
                date: today.to_string(),
                temperature_c: d.temperature_c,
                conditions: d.conditions.to_owned(),
                humidity_percent: d.humidity_percent,
                wind_kph: d.wind_kph,
                wind_direction: d.wind_direction.to_owned(),
            },
        )
    }

    /// Daily forecast for a city.
    #[tool(
        description = "Daily weather forecast for a city (mock data), 1 to 7 days starting \
            today: high and low in °C, conditions, humidity, wind and chance of precipitation.",
        output_schema = schema_for_output::<Forecast>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_forecast(&self, Parameters(args): Parameters<ForecastArgs>) -> CallToolResult {
        let city = match lookup(&args.city) {
            Ok(city) => city,
            Err(result) => return result,
        };
        if !(1..=MAX_FORECAST_DAYS).contains(&args.days) {
            return error(format!(
                "days must be between 1 and {MAX_FORECAST_DAYS}, got {}",
                args.days
            ));
        }
        let today = self.today();
        let days: Vec<ForecastDay> = (0..args.days)
            .map(|n| {
                let date = today.plus_days(n);
                let d = day(city, date);
                ForecastDay {
                    date: date.to_string(),
                    high_c: d.high_c,
                    low_c: d.low_c,
                    conditions: d.conditions.to_owned(),
                    humidity_percent: d.humidity_percent,
                    wind_kph: d.wind_kph,
                    wind_direction: d.wind_direction.to_owned(),
                    precipitation_chance_percent: d.precipitation_chance_percent,
                }
            })
            .collect();
        let mut text = format!(
            "{}-day forecast for {}, {}:",
            args.days, city.name, city.country
        );
        for d in &days {
            text.push_str(&format!(
                "\n{}: {} to {} °C, {}, humidity {}%, wind {} km/h {}, {}% chance of precipitation",
                d.date,
                d.low_c,
                d.high_c,
                d.conditions,
                d.humidity_percent,
                d.wind_kph,
                d.wind_direction,
                d.precipitation_chance_percent
            ));
        }
        let forecast = Forecast {
            city: city.name.to_owned(),
            country: city.country.to_owned(),
            days,
        };
        structured(text, &forecast)
    }
}

#[tool_handler(
    router = self.tool_router,
    name = "belay-weather",
    instructions = "Mock weather for a fixed list of world cities. Values are invented but \
        stable for a given city and day."
)]
impl ServerHandler for WeatherServer {}

/// The city, or the error result a model can act on: it lists every valid name.
fn lookup(name: &str) -> Result<&'static City, CallToolResult> {
    find_city(name).ok_or_else(|| {
        let known: Vec<&str> = CITIES.iter().map(|c| c.name).collect();
        error(format!(
            "unknown city `{}`; valid cities: {}",
            name.trim(),
            known.join(", ")
        ))
    })
}
