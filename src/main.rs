use std::process::ExitCode;

use clap::Parser;
use pipe::cli::Cli;

#[global_allocator]
static ALLOCATOR: pipe_stages::model::LineAligned = pipe_stages::model::LineAligned;

fn main() -> ExitCode {
    // Before any thread starts: candle's elementwise pool and rayon's matmul pool
    // would otherwise spin against each other on small machines.
    pipe_stages::model::single_threaded_elementwise();
    pipe_stages::model::keep_freed_memory();
    // Like other Unix tools, end quietly when the reader of stdout goes away
    // (`pipe status | head`) instead of panicking in println!. The store is
    // crash-safe, so nothing already computed is lost.
    #[cfg(unix)]
    // SAFETY: restores the default action of one signal, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    pipe::signals::install();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            // 2: the pipeline file or command line is wrong; 1: something failed while running.
            let code = e.downcast_ref::<pipe::Error>().map_or(1, pipe::Error::exit_code);
            ExitCode::from(code as u8)
        }
    }
}

fn run() -> anyhow::Result<()> {
    Cli::parse().execute()?;
    Ok(())
}
