//! The `flexrnn` command line: the library's whole CLI with the built-in policies.

use std::process::ExitCode;

use flexrnn::policy::PolicyRegistry;

/// mimalloc instead of glibc's malloc: training allocates and frees many tensors of 10 kB – 10 MB per
/// step, which glibc's default thresholds map and unmap from the kernel on every call (a third of a
/// training's time went to page faults). The allocator changes no result.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    flexrnn::cli::main_with(PolicyRegistry::builtin())
}
