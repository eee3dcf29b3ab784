//! The results: the printed table (also `latest.md`), the curve (`curve.csv`) and its
//! plot (`curve.png`, drawn by the org-scale-plot crate, bench/plot/).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::converged::REVOCATIONS;
use crate::measures::{Measured, Requests};
use crate::scenario::{Scenario, join_count};
use crate::{Res, repo, run};

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn ratio(a: Duration, b: Duration) -> String {
    format!("{:.2}×", a.as_secs_f64() / b.as_secs_f64().max(1e-9))
}

/// The tables of the largest point, then the curve, in Markdown.
pub fn report(curve: &[Measured]) -> String {
    let mut out = String::new();
    let Some(big) = curve.last() else {
        return out;
    };
    let sc = big.scenario.unwrap_or(Scenario {
        workspaces: 0,
        workflows: 0,
    });
    against_raw_bound(&mut out, big, sc);
    let _ = writeln!(out);
    controller_only(&mut out, big);
    scaling(&mut out, curve);
    out
}

/// The controller against the raw bound.
fn against_raw_bound(out: &mut String, big: &Measured, sc: Scenario) {
    let _ = writeln!(
        out,
        "### {}: {} workflows shared with the entire organization of {} workspaces ({} grants)\n",
        sc.name(),
        sc.workflows,
        sc.workspaces,
        sc.grants()
    );
    let _ = writeln!(out, "| measure | raw bound | workflow-share | ratio |");
    let _ = writeln!(out, "|---|---|---|---|");
    compared(
        out,
        "every SharedWorkflow exists",
        big.raw.shared_workflows,
        big.shared_workflows,
    );
    compared(out, "every share Ready", big.raw.all, big.ready);
    if let Some(join) = big.join {
        let joins = format!(
            "a workspace joins ({} grants; median of {})",
            sc.workflows,
            join_count()
        );
        compared(out, &joins, big.raw.join, join);
    }
    if let Some(admin) = &big.raw_admin {
        let as_admin = ", the raw bound as cluster admin";
        compared(
            out,
            &format!("every SharedWorkflow exists{as_admin}"),
            admin.shared_workflows,
            big.shared_workflows,
        );
        compared(
            out,
            &format!("every share Ready{as_admin}"),
            admin.all,
            big.ready,
        );
        if let Some(join) = big.join {
            compared(
                out,
                &format!("a workspace joins{as_admin}"),
                admin.join,
                join,
            );
        }
    }
    if !big.fidelity.is_empty() {
        let same = big.fidelity.iter().all(|c| c.same_fields());
        let sizes: Vec<String> = big.fidelity.iter().map(|c| c.describe()).collect();
        let _ = writeln!(
            out,
            "| objects created, raw bound / workflow-share ({}) | {} | | |",
            if same {
                "the same fields"
            } else {
                "fields differ"
            },
            sizes.join("; ")
        );
    }
    let _ = writeln!(
        out,
        "| writes | {} | {} | |",
        big.raw.writes, big.controller_writes
    );
    let _ = writeln!(
        out,
        "| Event create requests (a notification per grant, a report per share) | {} | {} ({} conflicts) | |",
        sc.grants() + sc.workflows,
        big.requests.event_creates,
        big.requests.event_conflicts
    );
}

/// One row of the table: a measure of the raw bound and of the controller, and their ratio.
fn compared(out: &mut String, measure: &str, raw: Duration, ours: Duration) {
    let _ = writeln!(
        out,
        "| {measure} | {} | {} | {} |",
        secs(raw),
        secs(ours),
        ratio(ours, raw)
    );
}

/// What only the controller has: latencies, requests, CPU, memory, restarts.
fn controller_only(out: &mut String, big: &Measured) {
    let _ = writeln!(out, "| measure | workflow-share |");
    let _ = writeln!(out, "|---|---|");
    if let (Some(p50), Some(p99)) = (big.change_p50, big.change_p99) {
        let _ = writeln!(
            out,
            "| one share change to the grant visible (100 samples) | p50 {:.0} ms, p99 {:.0} ms |",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
    if let (Some(p50), Some(p99)) = (big.revoke_p50, big.revoke_p99) {
        let _ = writeln!(
            out,
            "| a revoking write to the first run refused ({REVOCATIONS} samples) | p50 {:.0} ms, p99 {:.0} ms |",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
    requests(out, &big.requests, big.join_requests.as_ref());
    let _ = writeln!(
        out,
        "| controller CPU while sharing | {:.1} s |",
        big.cpu_seconds
    );
    let admin = big
        .raw_admin
        .as_ref()
        .map(|a| {
            format!(
                "; as cluster admin {:.1} s, {:.2}×",
                a.server_cpu,
                big.server_cpu / a.server_cpu.max(0.01)
            )
        })
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "| API server and etcd CPU until Ready | {:.1} s (raw bound {:.1} s, {:.2}×{admin}) |",
        big.server_cpu,
        big.raw.server_cpu,
        big.server_cpu / big.raw.server_cpu.max(0.01)
    );
    let after_restart = big
        .restart_rss_mb
        .map(|mb| format!("; {mb:.0} MB after a restart over the same state"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "| controller memory | peak {:.0} MB, {:.0} MB at rest{after_restart}; {:.1} KB per grant (peak until Ready) |",
        big.peak_rss_mb,
        big.rest_rss_mb,
        big.kb_per_grant()
    );
    let (without, with) = (
        &big.largest.without_managed_fields,
        &big.largest.with_managed_fields,
    );
    let _ = writeln!(
        out,
        "| largest object written (JSON) | {} bytes without managedFields ({}); {} bytes with them ({}) |",
        without.bytes, without.what, with.bytes, with.what
    );
    if let Some(bytes) = big.etcd_bytes_per_grant {
        let _ = writeln!(
            out,
            "| etcd's database per grant (compacted; entries, RBAC, statuses, notification Events) | {bytes:.0} bytes |"
        );
    }
    if let Some(s) = big.apiserver_restart_syncs {
        let _ = writeln!(
            out,
            "| syncs after an API server restart (nothing changed) | {s:.0} |"
        );
    }
    if let (Some(w), Some(r)) = (big.restart_writes, big.restart_ready) {
        let _ = writeln!(
            out,
            "| controller restart over converged state | {:.0} writes, leading with full caches after {} |",
            w.abs(),
            secs(r)
        );
    }
}

/// The API requests while sharing, and per workspace joining.
fn requests(out: &mut String, sharing: &Requests, joins: Option<&Requests>) {
    let verbs: Vec<String> = sharing
        .by_verb
        .iter()
        .map(|(v, n)| format!("{v} {n}"))
        .collect();
    let _ = writeln!(
        out,
        "| API requests while sharing, by verb | {} |",
        verbs.join(", ")
    );
    let mut by_resource: Vec<(&(String, String), &u64)> = sharing.by_resource.iter().collect();
    by_resource.sort_by(|a, b| b.1.cmp(a.1));
    let resources: Vec<String> = by_resource
        .iter()
        .map(|((v, r), n)| format!("{} {r} {n}", v.to_lowercase()))
        .collect();
    let _ = writeln!(out, "| … by verb and resource | {} |", resources.join(", "));
    if let Some(joins) = joins {
        let mut by_resource: Vec<(&(String, String), &u64)> = joins.by_resource.iter().collect();
        by_resource.sort_by(|a, b| b.1.cmp(a.1));
        let resources: Vec<String> = by_resource
            .iter()
            .map(|((v, r), n)| {
                format!(
                    "{} {r} {}",
                    v.to_lowercase(),
                    **n as f64 / join_count() as f64
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "| API requests per workspace joining, by verb and resource | {} |",
            resources.join(", ")
        );
    }
}

/// One line per point of the curve.
fn scaling(out: &mut String, curve: &[Measured]) {
    let _ = writeln!(out, "\n### Scaling\n");
    let _ = writeln!(
        out,
        "| scenario | grants | raw bound (all writes) | every share Ready | ratio | per 1,000 grants | peak memory | memory at rest | memory per grant (peak until Ready) | largest object written (without managedFields) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
    for m in curve {
        let g = m.scenario.map(|s| s.grants()).unwrap_or(0);
        let name = m.scenario.map(|s| s.name()).unwrap_or_default();
        let largest = &m.largest.without_managed_fields;
        let _ = writeln!(
            out,
            "| {name} | {g} | {} | {} | {} | {:.2} s | {:.0} MB | {:.0} MB | {:.1} KB | {} bytes ({}) |",
            secs(m.raw.all),
            secs(m.ready),
            ratio(m.ready, m.raw.all),
            m.ready.as_secs_f64() * 1000.0 / g.max(1) as f64,
            m.peak_rss_mb,
            m.rest_rss_mb,
            m.kb_per_grant(),
            largest.bytes,
            largest.what
        );
    }
}

/// The curve as CSV; bench/plot reads these columns by name. New columns go at the
/// end, so that older readers still find theirs.
fn csv(curve: &[Measured]) -> String {
    let mut csv = String::from(
        "grants,raw_all_s,ready_s,raw_shared_workflows_s,shared_workflows_s,peak_rss_mb,\
         scenario,workspaces,workflows,rest_rss_mb,ready_peak_rss_mb,kb_per_grant,\
         largest_object_bytes,largest_object,\
         largest_object_with_managed_fields_bytes,largest_object_with_managed_fields\n",
    );
    for m in curve {
        let sc = m.scenario.unwrap_or(Scenario {
            workspaces: 0,
            workflows: 0,
        });
        let (without, with) = (
            &m.largest.without_managed_fields,
            &m.largest.with_managed_fields,
        );
        let _ = writeln!(
            csv,
            "{},{:.3},{:.3},{:.3},{:.3},{:.1},{},{},{},{:.1},{:.1},{:.2},{},{},{},{}",
            sc.grants(),
            m.raw.all.as_secs_f64(),
            m.ready.as_secs_f64(),
            m.raw.shared_workflows.as_secs_f64(),
            m.shared_workflows.as_secs_f64(),
            m.peak_rss_mb,
            sc.name(),
            sc.workspaces,
            sc.workflows,
            m.rest_rss_mb,
            m.ready_peak_rss_mb,
            m.kb_per_grant(),
            without.bytes,
            without.what,
            with.bytes,
            with.what
        );
    }
    csv
}

/// Writes `latest.md` and `curve.csv` to bench/results (or BENCH_RESULTS), then has
/// them plotted as `curve.png`.
pub fn write_results(curve: &[Measured], text: &str) -> Res<()> {
    // BENCH_RESULTS writes elsewhere (an experiment that should not replace the results).
    let out = std::env::var_os("BENCH_RESULTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("bench/results"));
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("latest.md"), text)?;
    std::fs::write(out.join("curve.csv"), csv(curve))?;
    plot(&out)?;
    eprintln!(
        "bench: wrote {}/latest.md, curve.csv, curve.png",
        out.display()
    );
    Ok(())
}

/// Draws `<dir>/curve.png` from `<dir>/curve.csv` with the org-scale-plot crate, a
/// workspace member of its own so that the tests' builds do not compile plotters.
fn plot(dir: &Path) -> Res<()> {
    // The cargo that runs the benchmark (`cargo bench` sets CARGO).
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("bench: plotting (cargo run -p org-scale-plot)");
    run(Command::new(cargo)
        .arg("run")
        .arg("--manifest-path")
        .arg(repo().join("Cargo.toml"))
        .args(["-p", "org-scale-plot", "--"])
        .arg(dir))
}
