//! The machinery under the controllers, which names no kind of ours: watches and
//! their caches, the writes and the request slots they take, status writes, Events,
//! supervision, leader election and test-only faults. The controllers (see
//! `controller`) use it; adding a kind of ours touches none of it.

pub mod controllers;
pub mod events;
pub mod fault;
pub mod leader;
pub mod own_writes;
pub mod request_slots;
pub mod status_writes;
pub mod supervise;
pub mod watch;
pub mod writes;

use kube::Resource;
use serde::de::DeserializeOwned;

/// A kind the controller can watch and cache.
pub trait Watched:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static
{
}

impl<K> Watched for K where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static
{
}
