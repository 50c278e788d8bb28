//! The cap on open connections from one source IP.
//!
//! Any cap on a shared pool is filled by an attacker first, and then the apiserver's new
//! connections wait in the backlog with everyone else's; a per-IP cap keeps the rest of
//! the pool for other sources whatever one source does. The apiserver calls from a few
//! addresses (its nodes, or one konnectivity agent) over HTTP/2, one or two connections
//! each, or over kept-alive HTTP/1.1 with one connection per concurrent call (hundreds at
//! most), so half the pool per address never limits it. `tests/faults.rs`'s slowloris
//! test fails without it: the good client's requests wait behind the attackers'
//! connections in the backlog.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Open connections per source IP.
pub(crate) struct PerIp {
    pub(crate) max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl PerIp {
    /// A cap of `max` connections per source IP (at least 1).
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(PerIp {
            max: max.max(1),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Counts a connection from `ip`; `None` when that IP is at its cap.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let ip = ip.to_canonical();
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            per_ip: self.clone(),
            ip,
        })
    }
}

/// One connection counted against its IP; uncounted when dropped.
pub(crate) struct IpSlot {
    per_ip: Arc<PerIp>,
    ip: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut open = self.per_ip.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_ip_slots_are_capped_and_given_back() {
        let per_ip = PerIp::new(2);
        let a = IpAddr::from([127, 0, 0, 2]);
        let mapped: IpAddr = "::ffff:127.0.0.2".parse().expect("ip");
        let first = per_ip.admit(a).expect("first");
        let second = per_ip
            .admit(mapped)
            .expect("second: the same IP, IPv4-mapped");
        assert!(per_ip.admit(a).is_none(), "a third from the same IP");
        assert!(per_ip.admit(IpAddr::from([127, 0, 0, 1])).is_some());
        drop(first);
        let third = per_ip.admit(a).expect("a slot given back");
        drop((second, third));
        assert!(
            per_ip.open.lock().expect("lock").is_empty(),
            "no entry left for closed connections"
        );
    }
}
