//! Thread settings of the CPU backend. candle runs elementwise ops of 64k+
//! values on its own barrier pool (CANDLE_NUM_THREADS workers, default: all
//! cores) whose caller spins until every worker is done, next to rayon's pool
//! that runs the matmuls (RAYON_NUM_THREADS). On a 2-core machine the two pools
//! compete for the cores: profiles of MiniLM training showed ~45% of all cycles
//! in those spin loops and 2-3x lower throughput than with the elementwise pool
//! off. Elementwise ops are memory-bound, so a single thread loses little.

/// Sets CANDLE_NUM_THREADS=1 unless the user set it: candle reads it once, when
/// its pool first starts. Call at process start, before other threads exist
/// (setting the environment is not thread-safe).
pub fn single_threaded_elementwise() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
}
