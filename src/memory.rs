//! How the process takes memory from the kernel.

/// Turns transparent huge pages off for this process, unless the operator chose with
/// `MIMALLOC_ALLOW_THP` (mimalloc's own switch, read before `main` runs).
///
/// mimalloc asks for huge pages on the memory it maps. The server frees much of what it
/// allocates on other threads than the one that allocated it, and mimalloc hands pages that stay
/// idle for a second back to the kernel; touching one again faults it in, and on a huge page that
/// fault zeroes 2 MiB where a small page zeroes 4 KiB. In the booking flow that zeroing was about
/// a tenth of all CPU time. Best effort: where the call is refused the kernel's default stays.
pub fn prefer_small_pages() {
    #[cfg(target_os = "linux")]
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // Refused only by kernels without the switch (before 3.15), which keep their default.
        let _ = rustix::thread::disable_transparent_huge_pages(true);
    }
}
