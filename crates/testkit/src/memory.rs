//! This process's memory, from `/proc/self/status` (Linux): what a test of a flood or a huge answer
//! asserts on. nextest runs each test in its own process, so the figures are the test's own.

/// A `kB` field of `/proc/self/status` (`VmRSS`, `VmHWM`), in bytes.
fn status_field(name: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// Resident set size now.
pub fn rss() -> u64 {
    status_field("VmRSS")
}

/// Peak resident set size since the process started or since the last `reset_peak`.
pub fn peak() -> u64 {
    status_field("VmHWM")
}

/// Reset the peak to the current RSS (`echo 5 > /proc/self/clear_refs`); false where the kernel
/// does not allow it (the peak then counts from process start, which only makes a bound stricter).
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Whole mebibytes, for messages.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
