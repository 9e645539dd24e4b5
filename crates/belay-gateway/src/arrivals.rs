//! The order an upstream says things in, kept across rmcp's tasks.
//!
//! rmcp's client reads its transport in order, but runs each notification in a task of its
//! own and hands each response straight to the call waiting for it. So the notices of a call
//! reached the caller in any order, and one the upstream sent just before the result could
//! be handled after the result had been relayed (and its call forgotten): dropped, or sent
//! after the result. A log line was judged against the calls in flight when its task ran,
//! not when it arrived.
//!
//! [`Arrivals`] wraps every upstream transport and sees each message as it is written and
//! read:
//!
//! * a request leaving is filed under the progress token and JSON-RPC id rmcp gave it
//!   ([`InFlight::leaving`]), before the upstream can say anything about it;
//! * a progress notification or log message is given its route and its turns as it is read
//!   ([`crate::in_flight`]): it is passed on in the upstream's order, and the call it
//!   belongs to is not answered before it ([`crate::in_flight::InFlightGuard::passed_on`]).
//!   So what the upstream sent about a call before the result reaches the caller before it,
//!   where one stream carries both (a handshake session's log lines ride its standalone
//!   stream, apart from its calls).
//!
//! rmcp could keep this order itself (hand a call's notifications over before completing
//! it); until it does, the gateway does.

use rmcp::{
    RoleClient,
    model::{
        ClientJsonRpcMessage, GetExtensions, GetMeta, JsonRpcMessage, ServerJsonRpcMessage,
        ServerNotification,
    },
    transport::Transport,
};

use crate::in_flight::{InFlight, Label};

/// An upstream transport whose messages are filed as they pass (see the module).
pub(crate) struct Arrivals<T> {
    inner: T,
    in_flight: InFlight,
}

impl<T> Arrivals<T> {
    /// Watches `inner`, filing under `in_flight`.
    pub(crate) fn new(inner: T, in_flight: InFlight) -> Self {
        Self { inner, in_flight }
    }
}

impl<T: Transport<RoleClient>> Transport<RoleClient> for Arrivals<T> {
    type Error = T::Error;

    fn send(
        &mut self,
        item: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        if let JsonRpcMessage::Request(sent) = &item
            && let Some(label) = sent.request.extensions().get::<Label>()
        {
            let token = sent.request.get_meta().get_progress_token();
            self.in_flight.leaving(*label, token, sent.id.clone());
        }
        self.inner.send(item)
    }

    async fn receive(&mut self) -> Option<ServerJsonRpcMessage> {
        let mut message = self.inner.receive().await?;
        if let JsonRpcMessage::Notification(arrived) = &mut message {
            let route = match &arrived.notification {
                ServerNotification::ProgressNotification(progress) => Some(
                    self.in_flight
                        .progress_route(&progress.params.progress_token),
                ),
                ServerNotification::LoggingMessageNotification(_) => {
                    Some(self.in_flight.log_route())
                }
                _ => None,
            };
            if let Some(route) = route {
                arrived.notification.extensions_mut().insert(route);
            }
        }
        Some(message)
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.inner.close()
    }
}
