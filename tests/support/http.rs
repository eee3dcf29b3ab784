//! The controller's own HTTP endpoints (metrics, health, webhooks), spoken to over
//! plain HTTP/1.1 on loopback.

use std::time::Duration;

/// The value of one series (summed over its labels) of the controller serving
/// metrics on `port`.
pub fn metric_at(port: u16, series: &str) -> f64 {
    let body = http_get(port, "/metrics").expect("metrics");
    body.lines()
        .filter(|l| l.starts_with(series))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Writes the controller serving metrics on `port` has sent since it started.
pub fn writes_at(port: u16) -> u64 {
    metric_at(port, "workflow_share_writes_total") as u64
}

/// Whether the controller serving metrics on `port` holds the leader Lease.
pub fn leads(port: u16) -> bool {
    http_get(port, "/metrics").is_some_and(|m| m.lines().any(|l| l == "workflow_share_leader 1"))
}

/// A plain HTTP/1.1 GET on loopback, for the controller's own endpoints.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    stream.read_to_string(&mut out).ok()?;
    Some(out)
}

/// An HTTP/1.1 POST on loopback with `headers`: the status code and the body.
pub fn http_post(port: u16, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    http_post_to(&format!("127.0.0.1:{port}"), path, headers, body)
}

/// `http_post` to any `host:port`.
pub fn http_post_to(
    addr: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("headers");
    // A peer that answers before reading all of a large body may reset the rest.
    let _ = stream.write_all(body);
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    let out = String::from_utf8_lossy(&out).to_string();
    let code = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {out:?}"));
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
    (code, body)
}
