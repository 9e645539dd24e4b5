//! Opening a session to one target with the console's handler: belay-client's
//! [`belay_client::open()`], shared with `belay scan`.

use rmcp::{RoleClient, service::RunningService};

pub use belay_client::open::{ConnectOptions, STDIO_START};

use crate::{handler::ChatClient, target::Target};

/// Opens a session to `target` with `handler`; the error says what failed, for a person.
pub async fn open(
    target: &Target,
    handler: ChatClient,
    options: &ConnectOptions,
) -> Result<RunningService<RoleClient, ChatClient>, String> {
    belay_client::open(target, handler, options)
        .await
        .map_err(|e| e.to_string())
}
