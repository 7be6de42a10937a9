//! Blocks of 16 f32 values, the unit the elementwise kernels (GELU, softmax,
//! residual, dropout) compute in. Whether LLVM vectorises a per-value loop that
//! calls `expf` (a table lookup and selects) hangs on how the loop is written
//! and inlined, and it often stays scalar. In blocks, `expf_lanes` is AVX-512
//! or AVX2 code by construction, and the plain arithmetic around it is fixed-width
//! array code that vectorises.

/// Values per block: one AVX-512 register of f32.
pub const LANES: usize = 16;

pub type Lanes = [f32; LANES];

/// The block whose value `i` is `f(i)`. A plain loop rather than
/// `std::array::from_fn`: LLVM keeps `from_fn` out of line (in erf, for one),
/// where it is compiled for baseline x86-64 and runs 4 wide.
#[inline(always)]
pub fn build(f: impl Fn(usize) -> f32) -> Lanes {
    let mut out = [0.0; LANES];
    for (i, o) in out.iter_mut().enumerate() {
        *o = f(i);
    }
    out
}

/// `f` of each value of a block.
#[inline(always)]
pub fn each(x: Lanes, f: impl Fn(f32) -> f32) -> Lanes {
    build(|i| f(x[i]))
}

/// `f` of each pair of values of two blocks.
#[inline(always)]
pub fn each2(a: Lanes, b: Lanes, f: impl Fn(f32, f32) -> f32) -> Lanes {
    build(|i| f(a[i], b[i]))
}

/// Writes `dst` block by block: `f` of the blocks at the same place in each of
/// `srcs` (each at least as long as `dst`); the last block is padded with zeros
/// and only its share is written back.
#[inline(always)]
pub fn map_blocks<const N: usize>(dst: &mut [f32], srcs: [&[f32]; N], f: impl Fn([Lanes; N]) -> Lanes) {
    assert!(srcs.iter().all(|s| s.len() >= dst.len()), "map_blocks: a source shorter than its destination");
    let whole = dst.len() / LANES * LANES;
    let (body, tail) = dst.split_at_mut(whole);
    for (b, out) in body.chunks_exact_mut(LANES).enumerate() {
        let at = b * LANES;
        out.copy_from_slice(&f(srcs.map(|s| s[at..at + LANES].try_into().expect("a whole block"))));
    }
    if !tail.is_empty() {
        let padded = srcs.map(|s| {
            let mut block = [0.0; LANES];
            block[..tail.len()].copy_from_slice(&s[whole..whole + tail.len()]);
            block
        });
        tail.copy_from_slice(&f(padded)[..tail.len()]);
    }
}
