//! The protocol era of a request, and the log level it asked for, decided the same way by
//! every server and by the gateway.
#![allow(deprecated)] // Logging is deprecated by SEP-2577 but still served.

use rmcp::{
    RoleServer,
    model::{LoggingLevel, ProtocolVersion},
    service::RequestContext,
};

/// Whether `version` is of the round-trip era (2026-07-28 or later: no session, each
/// request carries its own `_meta` envelope, input requests instead of server requests).
pub fn is_round_trip(version: Option<&ProtocolVersion>) -> bool {
    // Revisions are ISO dates, so string order is release order (rmcp compares them the same way).
    version.is_some_and(|v| v.as_str() >= ProtocolVersion::V_2026_07_28.as_str())
}

/// Whether the request behind `context` is of the round-trip era.
pub fn request_is_round_trip(context: &RequestContext<RoleServer>) -> bool {
    is_round_trip(context.protocol_version().as_ref())
}

/// Whether a log message at `level` reaches a client that asked for `min` and above
/// (`None`: it asked for none, as a 2026-07-28 request without `logLevel`).
pub fn log_wanted(min: Option<LoggingLevel>, level: LoggingLevel) -> bool {
    min.is_some_and(|min| severity(level) >= severity(min))
}

/// RFC 5424 order, least severe first (rmcp's `LoggingLevel` is not `Ord`).
fn severity(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eras_and_log_levels() {
        assert!(!is_round_trip(None));
        assert!(!is_round_trip(Some(&ProtocolVersion::V_2025_11_25)));
        assert!(is_round_trip(Some(&ProtocolVersion::V_2026_07_28)));
        assert!(log_wanted(Some(LoggingLevel::Info), LoggingLevel::Warning));
        assert!(log_wanted(
            Some(LoggingLevel::Warning),
            LoggingLevel::Warning
        ));
        assert!(!log_wanted(
            Some(LoggingLevel::Error),
            LoggingLevel::Warning
        ));
        assert!(!log_wanted(None, LoggingLevel::Emergency));
    }
}
