//! Sharing workflows: one sync per workflow plans its grants from the caches and
//! converges the library entries, the RBAC, the organization readers grant, the
//! notifications and the statuses to the plan.

pub mod authorize;
pub mod entry_cache;
pub mod entry_watch;
pub mod entry_writes;
pub mod existing;
pub mod finalizer;
pub mod generated;
pub mod grants;
pub mod listed;
pub mod notify;
pub mod rbac;
pub mod readers;
pub mod reports;
pub mod sync;
pub mod workflows;
