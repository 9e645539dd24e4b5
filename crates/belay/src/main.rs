//! The `belay` command; everything lives in the library so tests can drive it.

/// mimalloc instead of glibc's malloc: a request allocates and frees many small blocks and
/// tokio's task cells are 128-byte aligned, which glibc serves through its slow `memalign`
/// path. Measured on `belay serve stock` over stdio with 16 requests in flight: about 12%
/// more requests/s (benches/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    belay::main()
}
