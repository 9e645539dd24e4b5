//! The gateway's upstreams, as a reload can change them.
//!
//! The list only grows: an endpoint or a request names its upstream by index, and an index
//! must mean the same upstream for as long as the gateway runs, even across reloads. A
//! removed or replaced upstream stays in place, retired (stopped, out of every list and
//! route), and its replacement is appended.

use std::sync::{Arc, RwLock};

use crate::upstream::Upstream;

/// Every upstream the gateway has had, retired ones included.
#[derive(Clone, Default)]
pub(crate) struct Roster(Arc<RwLock<Arc<Vec<Arc<Upstream>>>>>);

impl std::fmt::Debug for Roster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.snapshot().iter()).finish()
    }
}

impl Roster {
    pub(crate) fn new(upstreams: Vec<Arc<Upstream>>) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(upstreams))))
    }

    /// The list as it is now; indexes into it stay valid.
    pub(crate) fn snapshot(&self) -> Arc<Vec<Arc<Upstream>>> {
        self.0
            .read()
            .map_or_else(|e| e.into_inner().clone(), |list| list.clone())
    }

    /// Upstream `i`. Indexes come from this roster, which never shrinks.
    pub(crate) fn get(&self, i: usize) -> Arc<Upstream> {
        self.snapshot()[i].clone()
    }

    /// The upstreams in service, with their indexes, in order.
    pub(crate) fn active(&self) -> Vec<(usize, Arc<Upstream>)> {
        self.snapshot()
            .iter()
            .enumerate()
            .filter(|(_, u)| !u.is_retired())
            .map(|(i, u)| (i, u.clone()))
            .collect()
    }

    /// The upstream in service called `name`.
    pub(crate) fn find(&self, name: &str) -> Option<(usize, Arc<Upstream>)> {
        self.active().into_iter().find(|(_, u)| u.name() == name)
    }

    /// Appends `upstream`; its index.
    pub(crate) fn push(&self, upstream: Arc<Upstream>) -> usize {
        let mut slot = self.0.write().unwrap_or_else(|e| e.into_inner());
        let mut list = Vec::clone(&slot);
        list.push(upstream);
        let index = list.len() - 1;
        *slot = Arc::new(list);
        index
    }
}
