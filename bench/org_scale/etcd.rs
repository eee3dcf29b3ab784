//! What a grant costs etcd: the bytes its database holds once old revisions are
//! compacted, before the shares and after (the API server compacts every five
//! minutes; compacting here reads the steady state at once).

use std::path::Path;
use std::time::Duration;

use crate::Res;
use crate::support::{http_get, http_post};

/// The port etcd serves clients on, from the command line `up.sh` kept.
fn port(dir: &Path) -> Res<u16> {
    let cmd = std::fs::read_to_string(dir.join("etcd.cmd"))?;
    let url = cmd
        .split_whitespace()
        .skip_while(|w| *w != "--listen-client-urls")
        .nth(1)
        .ok_or("no --listen-client-urls in etcd.cmd")?;
    let port = url.rsplit(':').next().ok_or("no port")?;
    Ok(port.trim_matches('/').parse()?)
}

/// Bytes of etcd's database in use after compacting every revision but the last.
pub async fn bytes_in_use(dir: &Path) -> Res<u64> {
    let port = port(dir)?;
    let (_, range) = http_post(port, "/v3/kv/range", &[], br#"{"key":"AA=="}"#);
    let revision = range
        .split("\"revision\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .ok_or("no revision in etcd's answer")?
        .to_string();
    let body = format!(r#"{{"revision":"{revision}","physical":true}}"#);
    let (code, answer) = http_post(port, "/v3/kv/compaction", &[], body.as_bytes());
    // Compacted already to that revision (by the API server) is as good.
    if code != 200 && !answer.contains("compacted") {
        return Err(format!("etcd compaction: {code} {answer}").into());
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let metrics = http_get(port, "/metrics").ok_or("no etcd metrics")?;
    let line = metrics
        .lines()
        .find(|l| l.starts_with("etcd_mvcc_db_total_size_in_use_in_bytes "))
        .ok_or("no etcd_mvcc_db_total_size_in_use_in_bytes")?;
    let value: f64 = line.rsplit(' ').next().ok_or("no value")?.parse()?;
    Ok(value as u64)
}
