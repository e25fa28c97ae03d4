//! Printing figures, and the few statistics and process readings they need.

use std::time::Duration;

/// Prints one figure as a JSON line.
pub fn emit(figure: &str, value: f64, unit: &str) {
    let value = (value * 1000.0).round() / 1000.0;
    println!("{}", serde_json::json!({ "figure": figure, "value": value, "unit": unit }));
}

pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// The `q` quantile (nearest rank) of `samples`, sorting them in place.
pub fn quantile(samples: &mut [f64], q: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort_by(f64::total_cmp);
    samples[((samples.len() - 1) as f64 * q).round() as usize]
}

/// CPU seconds (user + system) this process used so far, all threads, exited ones included.
pub fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the `(command)`, which may hold spaces: utime and stime are the 12th and 13th.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: Vec<f64> = after_name.split_whitespace().skip(11).take(2).filter_map(|t| t.parse().ok()).collect();
    // /proc reports in USER_HZ, 100 on Linux.
    ticks.iter().sum::<f64>() / 100.0
}

/// A `/proc/self/status` line in kB (`VmRSS:`, `VmHWM:`), as MiB.
pub fn proc_status_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find(|line| line.starts_with(field))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|value| value.parse::<f64>().ok())
        .unwrap_or(f64::NAN);
    kib / 1024.0
}
