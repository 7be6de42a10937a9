use std::process::ExitCode;

use clap::Parser;
use pipe::cli::Cli;

mod runtime;

#[global_allocator]
static ALLOCATOR: runtime::LineAligned = runtime::LineAligned;

fn main() -> ExitCode {
    // Process-wide settings, before any thread starts (runtime.rs says why).
    runtime::single_threaded_elementwise();
    runtime::keep_freed_memory();
    // Like other Unix tools, end quietly when the reader of stdout goes away
    // (`pipe status | head`) instead of panicking in println!. The store is
    // crash-safe, so nothing already computed is lost.
    #[cfg(unix)]
    // SAFETY: restores the default action of one signal, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    pipe::signals::install();
    // A misspelt PIPE_SIMD stops here, before any kernel asks for the level.
    if let Err(e) = pipe_stages::simd::requested() {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    // Picks the level now, before candle's first matmul can pick gemm's kernels.
    pipe_stages::simd::level();
    match Cli::parse().execute() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            // 2: the pipeline file or command line is wrong; 1: something failed while running.
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
