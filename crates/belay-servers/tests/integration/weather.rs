//! The weather server through real rmcp clients: over a pipe and over HTTP, in both eras.

use anyhow::Context as _;
use belay_servers::weather::{CITIES, CurrentWeather, Date, Forecast, WeatherServer};
use serde_json::json;

use crate::common::{
    ScriptedClient, Session, decode, open_all, text_of, tool_error, tools_with_outputs,
};

/// Every transport and era at once, so each test covers all four.
async fn connect_all(server: WeatherServer) -> anyhow::Result<Vec<Session>> {
    Ok(open_all(server, ScriptedClient::new).await?)
}

fn pinned() -> anyhow::Result<WeatherServer> {
    let date = Date::from_ymd(2025, 3, 14).context("valid date")?;
    Ok(WeatherServer::on_date(date))
}

#[tokio::test]
async fn tools_are_listed_with_output_schemas() -> anyhow::Result<()> {
    for conn in connect_all(pinned()?).await? {
        let tools = tools_with_outputs(
            &conn,
            &[("get_weather", "temperature_c"), ("get_forecast", "days")],
        )
        .await?;
        // The description names the cities for the model; it must not drift from the table.
        let weather = tools
            .iter()
            .find(|t| t.name == "get_weather")
            .context("listed")?;
        let description = weather.description.as_deref().unwrap_or_default();
        for city in CITIES {
            assert!(
                description.contains(city.name),
                "{} missing from description",
                city.name
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn current_weather_is_fixed_for_a_city_and_day() -> anyhow::Result<()> {
    let expected = CurrentWeather {
        city: "Tokyo".into(),
        country: "Japan".into(),
        latitude: 35.6762,
        longitude: 139.6503,
        date: "2025-03-14".into(),
        temperature_c: 12.0,
        conditions: "light rain".into(),
        humidity_percent: 72,
        wind_kph: 15.9,
        wind_direction: "S".into(),
    };
    for conn in connect_all(pinned()?).await? {
        for spelling in ["Tokyo", "  tOKYO "] {
            let result = conn
                .call("get_weather", json!({ "city": spelling }))
                .await?;
            assert_ne!(result.is_error, Some(true), "{}", conn.label);
            assert_eq!(
                decode::<CurrentWeather>(&result)?,
                expected,
                "{}",
                conn.label
            );
            assert_eq!(
                text_of(&result),
                "Tokyo, Japan on 2025-03-14: 12 °C, light rain, humidity 72%, wind 15.9 km/h S."
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn weather_changes_with_the_day_and_the_city() -> anyhow::Result<()> {
    let later = WeatherServer::on_date(Date::from_ymd(2025, 3, 16).context("date")?);
    let conns = connect_all(pinned()?).await?;
    let later = connect_all(later).await?;
    let (conn, later) = (&conns[0], &later[0]);
    let tokyo =
        decode::<CurrentWeather>(&conn.call("get_weather", json!({"city": "Tokyo"})).await?)?;
    let sydney =
        decode::<CurrentWeather>(&conn.call("get_weather", json!({"city": "sydney"})).await?)?;
    let tokyo_later =
        decode::<CurrentWeather>(&later.call("get_weather", json!({"city": "Tokyo"})).await?)?;
    assert_eq!(
        (sydney.city.as_str(), sydney.temperature_c),
        ("Sydney", 20.8)
    );
    assert_eq!(sydney.conditions, "rain");
    assert_eq!(
        (tokyo_later.date.as_str(), tokyo_later.temperature_c),
        ("2025-03-16", 11.3)
    );
    assert_eq!(tokyo_later.conditions, "partly cloudy");
    assert_ne!(tokyo, tokyo_later);
    Ok(())
}

#[tokio::test]
async fn forecast_covers_consecutive_days_from_today() -> anyhow::Result<()> {
    for conn in connect_all(pinned()?).await? {
        let result = conn
            .call("get_forecast", json!({ "city": "Tokyo", "days": 3 }))
            .await?;
        let forecast = decode::<Forecast>(&result)?;
        assert_eq!(
            (forecast.city.as_str(), forecast.country.as_str()),
            ("Tokyo", "Japan")
        );
        let summary: Vec<(&str, f64, f64, &str)> = forecast
            .days
            .iter()
            .map(|d| (d.date.as_str(), d.low_c, d.high_c, d.conditions.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                ("2025-03-14", 8.7, 13.5, "light rain"),
                ("2025-03-15", 5.1, 9.9, "rain"),
                ("2025-03-16", 6.6, 13.4, "partly cloudy"),
            ],
            "{}",
            conn.label
        );
        let text = text_of(&result);
        assert!(
            text.starts_with("3-day forecast for Tokyo, Japan:\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "2025-03-15: 5.1 to 9.9 °C, rain, humidity 78%, wind 15.5 km/h SE, \
                 69% chance of precipitation"
            ),
            "{text}"
        );
        assert_eq!(text.lines().count(), 4, "{text}");
    }
    Ok(())
}

#[tokio::test]
async fn forecast_agrees_with_current_weather_at_both_range_ends() -> anyhow::Result<()> {
    let conns = connect_all(pinned()?).await?;
    let conn = &conns[conns.len() - 1];
    for city in CITIES {
        let now =
            decode::<CurrentWeather>(&conn.call("get_weather", json!({"city": city.name})).await?)?;
        let week = decode::<Forecast>(
            &conn
                .call("get_forecast", json!({"city": city.name, "days": 7}))
                .await?,
        )?;
        assert_eq!(week.days.len(), 7, "{}", city.name);
        assert_eq!(week.days[6].date, "2025-03-20");
        let today = &week.days[0];
        assert_eq!(
            (today.date.as_str(), today.conditions.as_str()),
            (now.date.as_str(), now.conditions.as_str())
        );
        assert!(
            today.low_c <= now.temperature_c && now.temperature_c <= today.high_c,
            "{}",
            city.name
        );
        assert!(week.days.iter().all(|d| d.low_c <= d.high_c), "{week:?}");
        let one = decode::<Forecast>(
            &conn
                .call("get_forecast", json!({"city": city.name, "days": 1}))
                .await?,
        )?;
        assert_eq!(one.days, week.days[..1], "{}", city.name);
    }
    Ok(())
}

#[tokio::test]
async fn unknown_city_is_a_tool_error_listing_valid_cities() -> anyhow::Result<()> {
    let valid: Vec<&str> = CITIES.iter().map(|c| c.name).collect();
    let listed = format!("valid cities: {}", valid.join(", "));
    for conn in connect_all(pinned()?).await? {
        let weather = conn
            .call("get_weather", json!({ "city": "Atlantis" }))
            .await?;
        assert_eq!(
            tool_error(&weather),
            format!("unknown city `Atlantis`; {listed}")
        );
        let forecast = conn
            .call("get_forecast", json!({ "city": "", "days": 2 }))
            .await?;
        assert_eq!(
            tool_error(&forecast),
            format!("unknown city ``; {listed}"),
            "{}",
            conn.label
        );
    }
    Ok(())
}

#[tokio::test]
async fn forecast_days_outside_one_to_seven_are_tool_errors() -> anyhow::Result<()> {
    for conn in connect_all(pinned()?).await? {
        for days in [0, 8, -1, 365] {
            let result = conn
                .call("get_forecast", json!({ "city": "Paris", "days": days }))
                .await?;
            assert_eq!(
                tool_error(&result),
                format!("days must be between 1 and 7, got {days}")
            );
        }
        // rmcp turns arguments that do not fit the schema into a tool error as well.
        let missing = conn
            .call("get_forecast", json!({ "city": "Paris" }))
            .await?;
        assert_eq!(
            tool_error(&missing),
            "failed to deserialize parameters: missing field `days`; see the tool's inputSchema",
            "{}",
            conn.label
        );
    }
    Ok(())
}

#[test]
fn the_clock_is_injectable() -> anyhow::Result<()> {
    fn new_year() -> Date {
        Date::from_ymd(2030, 1, 1).unwrap_or(Date::from_days_since_epoch(0))
    }
    assert_eq!(
        WeatherServer::with_clock(new_year).today().to_string(),
        "2030-01-01"
    );
    let date = Date::from_ymd(2025, 3, 14).context("date")?;
    assert_eq!(WeatherServer::on_date(date).today(), date);
    // The system clock may tick past midnight between the two reads.
    let gap = WeatherServer::new().today().days_since_epoch() - Date::today().days_since_epoch();
    assert!((-1..=0).contains(&gap), "gap {gap}");
    Ok(())
}
