//! `crds/` and the chart's copy are generated from the Rust types; this fails when they drift.
//! Regenerate with: cargo run -- crd > crds/workflow-share.crds.yaml && cp crds/workflow-share.crds.yaml charts/workflow-share/crds/

#[test]
fn committed_crds_match_the_types() {
    let generated = workflow_share::resources::crds_yaml().expect("render CRDs");
    for path in [
        "crds/workflow-share.crds.yaml",
        "charts/workflow-share/crds/workflow-share.crds.yaml",
    ] {
        let committed =
            std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
                .unwrap_or_else(|e| panic!("reading {path}: {e}"));
        assert!(
            committed == generated,
            "{path} differs from `workflow-share crd`; regenerate it (see the top of this file)"
        );
    }
}
