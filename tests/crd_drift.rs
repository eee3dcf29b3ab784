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

/// Every `format` in the schemas is one the API server knows: an unknown one (such as
/// `uint32`, which schemars writes for a Rust `u32`) makes every `kubectl apply` of the
/// CRDs print a warning.
#[test]
fn every_schema_format_is_one_the_api_server_knows() {
    const KNOWN: &[&str] = &[
        "int32",
        "int64",
        "float",
        "double",
        "byte",
        "date",
        "date-time",
        "datetime",
        "duration",
        "password",
        "uri",
        "email",
        "hostname",
        "ipv4",
        "ipv6",
        "cidr",
        "mac",
        "uuid",
        "uuid3",
        "uuid4",
        "uuid5",
    ];
    let generated = workflow_share::resources::crds_yaml().expect("render CRDs");
    let unknown: Vec<&str> = generated
        .lines()
        .filter_map(|line| line.trim().strip_prefix("format: "))
        .filter(|format| !KNOWN.contains(&format.trim_matches('\'')))
        .collect();
    assert!(
        unknown.is_empty(),
        "formats the API server does not know: {unknown:?}"
    );
}
