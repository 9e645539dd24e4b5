//! Raw HTTP/1.1 over TCP, for what a well-behaved client never does: stall a request body,
//! hold connections open, or come from a chosen loopback address (on Linux every
//! `127.x.y.z` is loopback, so `127.0.0.2` is a second client).

use std::{
    io,
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
    time::Instant,
};

/// The loopback addresses two clients can come from.
pub const FIRST: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
/// See [`FIRST`].
pub const SECOND: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

/// A connection to `server` from address `local` (any free port).
pub async fn connect_from(local: IpAddr, server: SocketAddr) -> io::Result<TcpStream> {
    let socket = match local {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(local, 0))?;
    socket.connect(server).await
}

/// Sends the head of a `method path` request announcing a body of 1000 bytes more than
/// `partial`, then `partial`, and nothing else: a body that never arrives. `headers` are
/// extra header lines, each ending in `\r\n`.
pub async fn stall_body(
    local: IpAddr,
    server: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    partial: &[u8],
) -> io::Result<TcpStream> {
    let mut tcp = connect_from(local, server).await?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {server}\r\n{headers}Content-Length: {}\r\n\r\n",
        partial.len() + 1000
    );
    tcp.write_all(head.as_bytes()).await?;
    tcp.write_all(partial).await?;
    Ok(tcp)
}

/// Reads until the peer closes the connection or `within` passes; returns what was read
/// (lossy UTF-8) and whether it closed.
pub async fn read_to_close(tcp: &mut TcpStream, within: Duration) -> (String, bool) {
    let mut seen = Vec::new();
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 4096];
    let closed = loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            Err(_) => break false,
        }
    };
    (String::from_utf8_lossy(&seen).into_owned(), closed)
}

/// Sends `request` (a whole HTTP/1.1 request; say `Connection: close`) from `local` and
/// returns the answer, read until the server closes (10 s at most).
pub async fn exchange(local: IpAddr, server: SocketAddr, request: &str) -> io::Result<String> {
    let mut tcp = connect_from(local, server).await?;
    tcp.write_all(request.as_bytes()).await?;
    let (answer, closed) = read_to_close(&mut tcp, Duration::from_secs(10)).await;
    if !closed {
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no end of the answer in 10 s: {answer}"),
        ));
    }
    Ok(answer)
}

/// The status code of a raw answer.
pub fn status_of(answer: &str) -> Option<u16> {
    answer.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// The body of a raw answer (after the blank line; not de-chunked).
pub fn body_of(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").map_or("", |(_, body)| body)
}
