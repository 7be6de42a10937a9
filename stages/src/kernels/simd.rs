//! The one place that decides which SIMD level the kernels run at, once per
//! process: the best the CPU has, capped by `PIPE_SIMD` (to time or test a lower
//! level on a better machine). Every kernel with a SIMD path asks `level()`;
//! none asks the CPU itself.
//!
//! x86-64 levels, each including the ones below it:
//! - `baseline`: the x86-64 the crate is compiled for (SSE2, no FMA);
//! - `avx2`: AVX2 and FMA (Intel Haswell, AMD Zen and later);
//! - `avx512`: AVX-512 F/BW/VL (Intel Skylake-SP, AMD Zen 4 and later);
//! - `amx`: AMX-BF16 tiles granted by the kernel (Intel Sapphire Rapids and later).
//!
//! Elsewhere (aarch64) there is one level, `baseline`: the portable code, which
//! the compiler vectorises for NEON, part of every aarch64 CPU.

use std::fmt;
use std::sync::OnceLock;

/// The variable that caps the level.
pub const ENV: &str = "PIPE_SIMD";
/// The older cap, kept as an alias of `PIPE_SIMD=avx512`.
const NO_AMX: &str = "PIPE_NO_AMX";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Baseline,
    Avx2,
    Avx512,
    Amx,
}

impl Level {
    pub const ALL: [Level; 4] = [Level::Baseline, Level::Avx2, Level::Avx512, Level::Amx];

    pub fn name(self) -> &'static str {
        match self {
            Level::Baseline => "baseline",
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
            Level::Amx => "amx",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.name() == s.trim().to_ascii_lowercase())
    }

    /// "baseline, avx2, avx512, amx": the names `parse` takes, for error messages.
    pub fn names() -> String {
        Level::ALL.map(Level::name).join(", ")
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The level the kernels run at: `detected()`, capped by `PIPE_SIMD`.
/// Panics on a `PIPE_SIMD` that names no level; the binary checks it first
/// (`requested`) and stops with an error instead.
pub fn level() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let level = match requested() {
            Ok(Some(cap)) => cap.min(detected()),
            Ok(None) => detected(),
            Err(e) => panic!("{e}"),
        };
        // The gemm crate picks its own kernels: held to the same level.
        super::gemm::cap(level);
        level
    })
}

/// The cap `PIPE_SIMD` (or `PIPE_NO_AMX`) asks for, if any; an error names the
/// variable and the levels it takes.
pub fn requested() -> Result<Option<Level>, String> {
    match std::env::var(ENV) {
        Ok(v) if !v.trim().is_empty() => Level::parse(&v)
            .map(Some)
            .ok_or_else(|| format!("{ENV}={v:?} names no SIMD level; use one of {}", Level::names())),
        _ if std::env::var_os(NO_AMX).is_some() => Ok(Some(Level::Avx512)),
        _ => Ok(None),
    }
}

/// The best level this CPU (and, for AMX, the operating system) supports.
pub fn detected() -> Level {
    static DETECTED: OnceLock<Level> = OnceLock::new();
    *DETECTED.get_or_init(detect)
}

#[cfg(target_arch = "x86_64")]
fn detect() -> Level {
    let avx512 = is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("fma");
    if avx512 && super::amx::tiles_granted() {
        Level::Amx
    } else if avx512 {
        Level::Avx512
    } else if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        Level::Avx2
    } else {
        Level::Baseline
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> Level {
    Level::Baseline
}

/// Whether the bf16 products may use AVX512-BF16's dot products (`dpbf16`):
/// the level is `avx512` or above and the CPU has them (AMD Zen 4, Intel
/// Cooper Lake and later). A feature within the level, not a level: the rest
/// of the kernels run the same code on CPUs with and without it.
pub fn bf16_dot() -> bool {
    level() >= Level::Avx512 && has_bf16_dot()
}

/// Whether the CPU has AVX512-BF16, whatever the level.
#[cfg(target_arch = "x86_64")]
pub fn has_bf16_dot() -> bool {
    is_x86_feature_detected!("avx512bf16")
}

#[cfg(not(target_arch = "x86_64"))]
pub fn has_bf16_dot() -> bool {
    false
}

/// Why the kernels run below the CPU's best level, if they do (for `pipe bench`
/// and warnings): "PIPE_SIMD=avx2 caps avx512".
pub fn capped() -> Option<String> {
    (level() < detected()).then(|| format!("{ENV}={} caps {}", level(), detected()))
}

/// The CPU's model name and the SIMD flags that matter here, for benchmark
/// output: "Intel(R) Xeon(R) Processor; avx2 fma avx512f ... amx_bf16".
pub fn cpu_description() -> String {
    const FLAGS: [&str; 11] = [
        "sse4_2",
        "avx2",
        "fma",
        "avx512f",
        "avx512bw",
        "avx512_vnni",
        "avx512_bf16",
        "avx_vnni",
        "amx_bf16",
        "amx_int8",
        "asimd",
    ];
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    };
    let model = field("model name").or_else(|| field("CPU part").map(|p| format!("CPU part {p}")));
    let flags = field("flags").or_else(|| field("Features")).unwrap_or_default();
    let have: Vec<&str> = FLAGS.into_iter().filter(|f| flags.split_whitespace().any(|x| x == *f)).collect();
    format!("{}; {}", model.as_deref().unwrap_or("unknown CPU"), have.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_by_name_and_order_by_width() {
        for l in Level::ALL {
            assert_eq!(Level::parse(l.name()), Some(l));
        }
        assert_eq!(Level::parse(" AVX2 "), Some(Level::Avx2));
        assert_eq!(Level::parse("sse"), None);
        assert!(Level::Baseline < Level::Avx2 && Level::Avx2 < Level::Avx512 && Level::Avx512 < Level::Amx);
    }

    #[test]
    fn the_level_never_exceeds_the_cpu() {
        assert!(level() <= detected());
        println!("simd: {} (detected {}); {}", level(), detected(), cpu_description());
    }
}
