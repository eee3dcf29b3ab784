//! workflow-share: declarative sharing of workflows across the workspaces of an organization.

pub mod labels;
pub mod naming;
pub mod planner;
pub mod resources;
