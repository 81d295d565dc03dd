//! What the kernel knows about this process and machine: bytes sent to storage, peak memory,
//! per-thread CPU time, and the machine's description for the table's header.

use std::fs;
use std::path::Path;

/// Bytes this process caused to be sent to storage (`write_bytes` of `/proc/self/io`: counted
/// when a page is first dirtied, so rewriting a dirty page again before writeback is free,
/// and after an `fdatasync` the next write to that page counts again). Includes the pages a
/// rewrite copies with `copy_file_range`, which never pass through `write(2)`.
pub fn write_bytes() -> Option<u64> {
    let io = fs::read_to_string("/proc/self/io").ok()?;
    io.lines()
        .find_map(|line| line.strip_prefix("write_bytes:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Resets the peak RSS (`VmHWM`) to the current RSS (Linux ≥ 4.0), so that the next
/// [`peak_rss`] is the peak of what ran in between.
pub fn reset_peak_rss() {
    // The reset goes down to the current RSS only, and glibc keeps freed memory (the
    // reference's parsed 10k-event array, say) mapped: hand it back first, or every later
    // batch would report the earlier one's peak.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap memory; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
    // Best effort: without it the peak is that of the whole run so far, which is still an
    // upper bound.
    let _ = fs::write("/proc/self/clear_refs", "5");
}

/// The peak resident set size since the last [`reset_peak_rss`], in bytes.
pub fn peak_rss() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// CPU time, in nanoseconds, of this process's threads named `name` (tokio names all the
/// threads of a runtime, workers and blocking pool alike). `schedstat` counts nanoseconds
/// on the CPU, user and kernel together, where `stat`'s ticks would be 10 ms coarse.
pub fn threads_cpu_ns(name: &str) -> u64 {
    let Ok(tasks) = fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter(|task| {
            fs::read_to_string(task.path().join("comm")).is_ok_and(|comm| comm.trim_end() == name)
        })
        .filter_map(|task| {
            let stat = fs::read_to_string(task.path().join("schedstat")).ok()?;
            stat.split_whitespace().next()?.parse::<u64>().ok()
        })
        .sum()
}

/// The machine, as the table's header describes it.
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub kernel: String,
    pub memory: String,
    /// The 1-minute load average: on a shared machine, how busy the others were.
    pub load: String,
    pub filesystem: String,
}

pub fn machine(dir: &Path) -> Machine {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, model)| model.trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let memory = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let kb: f64 = m
                .lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()?;
            Some(format!("{:.0} GiB", kb / (1024.0 * 1024.0)))
        })
        .unwrap_or_else(|| "unknown".to_owned());
    Machine {
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        cpu_model,
        kernel: fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|k| format!("Linux {}", k.trim()))
            .unwrap_or_else(|_| std::env::consts::OS.to_owned()),
        memory,
        load: fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|l| l.split_whitespace().next().map(str::to_owned))
            .unwrap_or_else(|| "unknown".to_owned()),
        filesystem: filesystem_of(dir).unwrap_or_else(|| "unknown".to_owned()),
    }
}

/// The type and device of the mount that holds `dir`: the longest mount point in
/// `/proc/self/mountinfo` that is a prefix of its canonical path.
fn filesystem_of(dir: &Path) -> Option<String> {
    let dir = dir.canonicalize().ok()?;
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").ok()?;
    mountinfo
        .lines()
        .filter_map(|line| {
            // `id parent major:minor root mount-point options [optional...] - type source ...`
            let (before, after) = line.split_once(" - ")?;
            let mount_point = before.split(' ').nth(4)?.replace("\\040", " ");
            let mut after = after.split(' ');
            let (kind, source) = (after.next()?, after.next()?);
            dir.starts_with(&mount_point).then(|| {
                (
                    mount_point.len(),
                    format!("{kind} on {source} ({mount_point})"),
                )
            })
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, fs)| fs)
}
