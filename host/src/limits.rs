//! Guest limits: a memory cap that remembers refusing growth (for a clear error), and the
//! runaway check: a guest computing longer than its budget without any I/O is interrupted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use wasmtime::ResourceLimiter;

/// Caps linear memory; records whether growth was refused.
pub struct GuestLimits {
    /// Largest linear memory, in bytes.
    pub memory_cap: usize,
    /// Set when a `memory.grow` was refused.
    pub refused_growth: bool,
}

impl ResourceLimiter for GuestLimits {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.memory_cap;
        if !allowed {
            self.refused_growth = true;
            tracing::warn!(desired, cap = self.memory_cap, "guest memory growth refused");
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// The last time anything happened on the component's behalf: a call started, a request
/// was sent, response bytes arrived. Shared between a store and its transport hooks.
#[derive(Clone, Debug)]
pub struct Activity {
    origin: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Default for Activity {
    fn default() -> Self {
        Activity { origin: Instant::now(), last_ms: Arc::new(AtomicU64::new(0)) }
    }
}

impl Activity {
    /// Records activity now.
    pub fn touch(&self) {
        self.last_ms.store(self.origin.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Time since the last activity.
    pub fn idle(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.origin.elapsed().saturating_sub(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_beyond_the_cap_is_refused_and_remembered() {
        let mut limits = GuestLimits { memory_cap: 1 << 20, refused_growth: false };
        assert!(limits.memory_growing(0, 1 << 20, None).unwrap());
        assert!(!limits.refused_growth);
        assert!(!limits.memory_growing(1 << 20, 2 << 20, None).unwrap());
        assert!(limits.refused_growth);
    }

    #[test]
    fn activity_resets_the_idle_time() {
        let activity = Activity::default();
        std::thread::sleep(Duration::from_millis(30));
        assert!(activity.idle() >= Duration::from_millis(30));
        activity.touch();
        assert!(activity.idle() < Duration::from_millis(30));
    }
}
