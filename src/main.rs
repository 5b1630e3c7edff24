//! The `flexrnn` command line: the library's whole CLI with the built-in policies.

use std::process::ExitCode;

use flexrnn::policy::PolicyRegistry;

fn main() -> ExitCode {
    flexrnn::cli::main_with(PolicyRegistry::builtin())
}
