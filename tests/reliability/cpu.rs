//! CPU time of the threads that run a test's component and transport, to tell blocking from
//! spinning: a wait must cost far less CPU than the time it lasts.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Ticks per second of the times in `/proc/.../stat` (`getconf CLK_TCK`; 100 on Linux).
fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
        .unwrap_or(100)
}

/// Fields 14 and up of a `/proc/.../stat` file: utime, stime, cutime, cstime, ...
fn stat_times(path: &std::path::Path) -> Vec<u64> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    // The command name, in parentheses, may hold spaces: fields start after the last ')'.
    let rest = text.rsplit_once(')').map_or("", |(_, rest)| rest);
    rest.split_whitespace().skip(11).take(4).map(|v| v.parse().unwrap_or(0)).collect()
}

fn ticks_to_duration(ticks: u64) -> Duration {
    Duration::from_millis(ticks * 1000 / clock_ticks())
}

/// The CPU time used so far by every thread of a [`measured`] runtime.
#[derive(Clone)]
pub struct CpuMeter {
    threads: Arc<Mutex<Vec<PathBuf>>>,
}

impl CpuMeter {
    /// User and system time of the runtime's threads.
    pub fn used(&self) -> Duration {
        let threads = self.threads.lock().unwrap().clone();
        let ticks: u64 = threads.iter().map(|stat| stat_times(stat).iter().take(2).sum::<u64>()).sum();
        ticks_to_duration(ticks)
    }
}

/// Runs `test` on a runtime of its own whose threads (workers and blocking threads) are
/// metered, so tests running beside it in the same process do not count.
pub fn measured<F, Fut>(test: F)
where
    F: FnOnce(CpuMeter) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let threads = Arc::new(Mutex::new(Vec::new()));
    let record = threads.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || {
            if let Ok(link) = std::fs::read_link("/proc/thread-self") {
                record.lock().unwrap().push(PathBuf::from("/proc").join(link).join("stat"));
            }
        })
        .build()
        .unwrap();
    let meter = CpuMeter { threads };
    // On a worker, not on this thread, which the meter does not see.
    let task = runtime.spawn(test(meter));
    runtime.block_on(task).unwrap();
}

/// CPU time of this process's children that have been waited for (`cutime` + `cstime`).
pub fn children_cpu() -> Duration {
    let times = stat_times(std::path::Path::new("/proc/self/stat"));
    ticks_to_duration(times.iter().skip(2).sum())
}
