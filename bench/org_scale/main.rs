//! Organization-scale benchmark: the controller (release build) against the raw
//! write bound of the same local kube-apiserver + etcd, measured in the same run.
//! See bench/README.md; run with `cargo bench --bench org-scale`.

use std::path::Path;
use std::process::Command;

mod cluster;
mod controller_run;
mod converged;
mod etcd;
mod fidelity;
mod measures;
mod objects;
mod raw_bound;
mod report;
mod scenario;
mod watch;

// The integration tests' harness: metrics, health and free ports of a controller.
#[path = "../../tests/support/mod.rs"]
mod support;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const GROUP: &str = "sharing.workflows.dev/v1alpha1";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn run(cmd: &mut Command) -> Res<()> {
    let status = cmd.status()?;
    if !status.success() {
        return Err(format!("{cmd:?}: {status}").into());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Res<()> {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary
    // without it, and then there is nothing to do.
    if !std::env::args().any(|a| a == "--bench") {
        println!("org-scale: a benchmark; run it with `cargo bench --bench org-scale`");
        return Ok(());
    }
    let list = scenario::scenarios()?;
    let mut curve = Vec::new();
    for (i, sc) in list.iter().enumerate() {
        let full = i + 1 == list.len();
        curve.push(controller_run::measure(*sc, full).await?);
        eprintln!("bench: {:?}", curve.last());
    }
    let text = report::report(&curve);
    println!("{text}");
    report::write_results(&curve, &text)
}
