//! workflow-share: declarative sharing of workflows across the workspaces of an organization.

// No unwrap or expect where a cluster can reach: errors carry context instead
// (clippy.toml allows them in unit tests).
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod controller;
pub mod diff;
pub mod error;
pub mod labels;
pub mod manifests;
pub mod metrics;
pub mod naming;
pub mod planner;
pub mod resources;
pub mod runtime;
pub mod text;
pub mod visible;
