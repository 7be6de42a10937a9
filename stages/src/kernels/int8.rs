//! Dynamic int8 quantization of a dense layer, for inference (as PyTorch's
//! `quantize_dynamic` and ONNX Runtime's DynamicQuantizeLinear + MatMulInteger):
//! y = x @ W^T + b with integer products.
//!
//! - W [out, in] is quantized once, symmetric, one scale per output row:
//!   q = round(w / s), s = max|w_row| / 127, so q is in -127..=127.
//! - Each row (token) of x is quantized when the layer runs, asymmetric with a
//!   zero point over [min(x, 0), max(x, 0)] (zero stays exact, as in ONNX
//!   Runtime), to 7 bits: levels 0..=127, held as u8.
//! - Sums are exact int32: Σ (qx - zx) qw = Σ qx qw - zx Σ qw, each product at
//!   most 127 * 127, so `in` up to 133 000 cannot overflow (checked). The results
//!   are dequantized and the bias added in f32, the same scalar expression on
//!   every path.
//!
//! Why 7-bit activations: AVX2's fast integer product, `vpmaddubsw`, sums two
//! u8 x i8 products into a saturating i16. With full u8 activations that sum
//! reaches 2 * 255 * 127 and silently saturates; with levels up to 127 it stays
//! within 32 258 (ONNX Runtime's `reduce_range` takes the bit from the weights
//! instead). AVX-512 uses VNNI's `vpdpbusd` (four products straight into
//! int32) on the same values, the portable path plain integer loops. So the
//! integer products never saturate or overflow, every level gives the same
//! integers, hence the same output bits, for any thread split (rows are
//! quantized on their own).

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};

use super::cpu_data::cpu_slice;
use super::lanes::LANES;
use super::par::fill_rows;
use super::simd::{self, Level};

/// Values of `in` per step: `vpdpbusd` sums 4 products into each int32 lane. Rows
/// of x and W are padded with zeros to a multiple of it, which adds nothing.
const QUAD: usize = 4;
/// Output columns per group: one 512-bit register of int32 sums.
const GROUP: usize = 16;
/// A kernel call computes ROWS rows of x against COLS columns of W (two groups);
/// x's rows and W's columns are padded to multiples of them.
const ROWS: usize = 8;
const COLS: usize = 2 * GROUP;
/// The activations' largest level: 7 bits, so that two products fit i16
/// (`vpmaddubsw`, see the top).
const X_MAX: f32 = 127.0;
/// The largest `in` whose sums cannot overflow int32 (127 * 127 per product).
const MAX_IN: usize = i32::MAX as usize / (127 * 127);

/// The int32 sums of ROWS x rows (u8, `stride` values apart) against the two
/// column groups at `w` (the packed layout of `Int8Linear::weight`). Unsafe: the
/// level's CPU features must be present, and the slices long enough (`dot_tile` checks).
type Tile = unsafe fn(&[u8], &[i8], usize, &mut [[i32; COLS]; ROWS]);

/// A dense layer's weight and bias, prepared for integer products.
pub struct Int8Linear {
    out: usize,
    inner: usize,
    /// `inner` rounded up to `QUAD`.
    stride: usize,
    /// W^T packed for the kernels: for each group of 16 output columns (`out`
    /// rounded up to `COLS`, padding zeros), for each quad of `in`, the 16
    /// columns' 4 values: 64 bytes, one register, per quad.
    weight: Vec<i8>,
    scale: Vec<f32>,
    /// Σ q over each output column: the zero point's share of the sums.
    col_sum: Vec<i32>,
    bias: Vec<f32>,
}

impl Int8Linear {
    /// Quantizes W [out, inner] (row-major) and keeps b [out].
    pub fn new(weight: &[f32], bias: &[f32], out: usize, inner: usize) -> Int8Linear {
        assert!(weight.len() == out * inner && bias.len() == out, "int8 linear: W {} values, b {}", weight.len(), out);
        assert!(inner <= MAX_IN, "int8 linear: {inner} inputs could overflow the int32 sums (at most {MAX_IN})");
        let stride = inner.next_multiple_of(QUAD);
        let mut packed = vec![0i8; out.next_multiple_of(COLS) * stride];
        let (mut scale, mut col_sum) = (vec![1f32; out], vec![0i32; out]);
        for j in 0..out {
            let w = &weight[j * inner..][..inner];
            let max = w.iter().fold(0f32, |m, v| m.max(v.abs()));
            let s = if max > 0.0 { max / 127.0 } else { 1.0 };
            for (k, &v) in w.iter().enumerate() {
                let q = round_even((v / s).clamp(-127.0, 127.0)) as i8;
                packed[packed_index(j, k, stride)] = q;
                col_sum[j] += i32::from(q);
            }
            scale[j] = s;
        }
        Int8Linear { out, inner, stride, weight: packed, scale, col_sum, bias: bias.to_vec() }
    }

    /// From the f32 tensors W [out, inner] and b [out].
    pub fn from_tensors(weight: &Tensor, bias: &Tensor) -> candle_core::Result<Int8Linear> {
        let (out, inner) = weight.dims2()?;
        if bias.dims() != [out] {
            candle_core::bail!("int8 linear: weight {:?}, bias {:?}", weight.dims(), bias.dims())
        }
        let w = weight.flatten_all()?.to_vec1::<f32>()?;
        Ok(Int8Linear::new(&w, &bias.to_vec1::<f32>()?, out, inner))
    }

    /// x [rows, inner] (row-major) @ W^T + b as [rows, out], at the process's SIMD level.
    pub fn forward(&self, x: &[f32], rows: usize) -> Vec<f32> {
        self.forward_with(kernel(simd::level()).expect("the process's level is one the CPU has"), x, rows)
    }

    fn forward_with(&self, tile: Tile, x: &[f32], rows: usize) -> Vec<f32> {
        assert_eq!(x.len(), rows * self.inner, "int8 linear: input of {} values for {rows} rows", x.len());
        let (out, inner, stride) = (self.out, self.inner, self.stride);
        if out == 0 {
            return Vec::new();
        }
        // Inlined into `fill_rows`'s SIMD-compiled context, with the quantization
        // and the dequantization.
        fill_rows(
            rows * out,
            out,
            #[inline(always)]
            |first, y| {
                let n = y.len() / out;
                let q = Activations::quantize(&x[first * inner..(first + n) * inner], inner, stride);
                let mut sums = [[0i32; COLS]; ROWS];
                for r0 in (0..n).step_by(ROWS) {
                    let xs = &q.values[r0 * stride..];
                    for c0 in (0..out).step_by(COLS) {
                        dot_tile(tile, xs, &self.weight[c0 * stride..], stride, &mut sums);
                        let cols = c0..(c0 + COLS).min(out);
                        for (r, sums) in sums.iter().enumerate().take(n - r0) {
                            let (zero, sx) = (q.zero[r0 + r], q.scale[r0 + r]);
                            let y = &mut y[(r0 + r) * out..][cols.clone()];
                            let (scale, col_sum, bias) =
                                (&self.scale[cols.clone()], &self.col_sum[cols.clone()], &self.bias[cols.clone()]);
                            for ((((y, &sum), &sw), &cs), &b) in
                                y.iter_mut().zip(sums).zip(scale).zip(col_sum).zip(bias)
                            {
                                *y = (sum - zero * cs) as f32 * (sx * sw) + b;
                            }
                        }
                    }
                }
            },
        )
    }
}

/// Where W's value (column j of the output, k of the input) lies in the packed layout.
fn packed_index(j: usize, k: usize, stride: usize) -> usize {
    (j / GROUP) * GROUP * stride + (k / QUAD) * GROUP * QUAD + (j % GROUP) * QUAD + k % QUAD
}

/// Rows of x quantized to u8, `stride` values each (zeros past `inner`), their
/// count rounded up to `ROWS` with zero rows.
struct Activations {
    values: Vec<u8>,
    scale: Vec<f32>,
    zero: Vec<i32>,
}

impl Activations {
    /// Inlined into `fill_rows`'s closure, so compiled (and vectorised) for the
    /// process's level; the rounding is plain arithmetic (`round_even`), the same
    /// bits at every width.
    #[inline(always)]
    fn quantize(x: &[f32], inner: usize, stride: usize) -> Activations {
        let rows = x.len().checked_div(inner).unwrap_or(0);
        let mut values = vec![0u8; rows.next_multiple_of(ROWS) * stride];
        let (mut scale, mut zero) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
        for (x, q) in x.chunks_exact(inner.max(1)).zip(values.chunks_exact_mut(stride.max(1))) {
            let (lo, hi) = range_with_zero(x);
            let s = if hi > lo { (hi - lo) / X_MAX } else { 1.0 };
            let z = round_even((-lo / s).min(X_MAX));
            let inv = 1.0 / s;
            for (q, &v) in q.iter_mut().zip(x) {
                // Beyond ±512 steps the clamp to 0..=X_MAX decides alone; max and
                // min, unlike clamp, also send NaN to 0.
                #[allow(clippy::manual_clamp)]
                let v = (round_even((v * inv).clamp(-512.0, 512.0)) + z).max(0.0).min(X_MAX);
                // SAFETY: v is an integer in 0..=127.
                *q = unsafe { v.to_int_unchecked::<u8>() };
            }
            scale.push(s);
            zero.push(z as i32);
        }
        Activations { values, scale, zero }
    }
}

/// The least and the greatest of 0 and the values of `x`, NaN ignored (as
/// `f32::min` and `max` ignore it), kept in 16 lanes side by side: one running
/// pair is a chain of dependent compares (bench/README.md).
#[inline(always)]
fn range_with_zero(x: &[f32]) -> (f32, f32) {
    let lower = |acc: f32, v: f32| if v < acc { v } else { acc };
    let upper = |acc: f32, v: f32| if v > acc { v } else { acc };
    let (mut lo, mut hi) = ([0f32; LANES], [0f32; LANES]);
    let mut blocks = x.chunks_exact(LANES);
    for block in &mut blocks {
        for ((lo, hi), &v) in lo.iter_mut().zip(&mut hi).zip(block) {
            (*lo, *hi) = (lower(*lo, v), upper(*hi, v));
        }
    }
    let rest = blocks.remainder().iter().fold((0f32, 0f32), |(l, h), &v| (lower(l, v), upper(h, v)));
    lo.iter().zip(&hi).fold(rest, |(l, h), (&a, &b)| (lower(l, a), upper(h, b)))
}

/// `v` rounded to the nearest integer, ties to even, for |v| <= 2^22: adding and
/// taking away 1.5 * 2^23 leaves no fraction bits (IEEE rounds the sum to even).
/// Unlike `round_ties_even`, which is a libm call where the crate is compiled
/// for baseline x86-64 (no SSE4.1 `roundps`).
#[inline(always)]
fn round_even(v: f32) -> f32 {
    const SHIFT: f32 = 12_582_912.0;
    (v + SHIFT) - SHIFT
}

/// `tile` on ROWS rows of x and COLS columns of W, after checking the slices are long enough.
fn dot_tile(tile: Tile, x: &[u8], w: &[i8], stride: usize, sums: &mut [[i32; COLS]; ROWS]) {
    assert!(x.len() >= ROWS * stride && w.len() >= COLS * stride, "int8 tile past the end of its rows");
    // SAFETY: `kernel` hands out only kernels the CPU can run; the lengths are checked above.
    unsafe { tile(x, w, stride, sums) }
}

/// The kernel for `level`, or None when this CPU lacks it. AVX-512 without VNNI
/// (Skylake-SP) runs the AVX2 kernel: VNNI is what makes the wide path pay.
fn kernel(level: Level) -> Option<Tile> {
    if level > simd::detected() {
        return None;
    }
    match level {
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 | Level::Amx if std::is_x86_feature_detected!("avx512vnni") => Some(x86::tile_vnni),
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 | Level::Avx512 | Level::Amx => Some(x86::tile_avx2),
        #[cfg(target_arch = "x86_64")]
        Level::Baseline => Some(x86::tile_sse2),
        #[cfg(not(target_arch = "x86_64"))]
        _ => Some(tile_portable),
    }
}

/// The reference: plain integer loops over the packed layout, in its order (which
/// the compiler vectorises for NEON; on x86 the tests hold the kernels to it).
#[cfg(any(test, not(target_arch = "x86_64")))]
unsafe fn tile_portable(x: &[u8], w: &[i8], stride: usize, sums: &mut [[i32; COLS]; ROWS]) {
    for (r, sums) in sums.iter_mut().enumerate() {
        let x = &x[r * stride..][..stride];
        for (g, sums) in sums.chunks_exact_mut(GROUP).enumerate() {
            let mut acc = [0i32; GROUP];
            for (xq, wq) in x.chunks_exact(QUAD).zip(w[g * GROUP * stride..].chunks_exact(GROUP * QUAD)) {
                for (acc, wc) in acc.iter_mut().zip(wq.chunks_exact(QUAD)) {
                    for (&a, &b) in xq.iter().zip(wc) {
                        *acc += i32::from(a) * i32::from(b);
                    }
                }
            }
            sums.copy_from_slice(&acc);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{COLS, GROUP, QUAD, ROWS};

    /// Each step broadcasts a quad of each x row and multiplies it into both
    /// groups' quads with `vpdpbusd` (u8 x i8, four products added into each
    /// int32 lane, no saturation): 16 accumulators, each 16 output columns.
    /// (No closures in these functions: a closure is compiled without the
    /// function's target features, and the intrinsics in it would not be inlined.)
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub unsafe fn tile_vnni(x: &[u8], w: &[i8], stride: usize, sums: &mut [[i32; COLS]; ROWS]) {
        let (x, w) = (x.as_ptr(), w.as_ptr());
        let mut acc = [[_mm512_setzero_si512(); 2]; ROWS];
        for k in (0..stride).step_by(QUAD) {
            let w0 = _mm512_loadu_si512(w.add(k * GROUP).cast());
            let w1 = _mm512_loadu_si512(w.add(GROUP * stride + k * GROUP).cast());
            for (r, acc) in acc.iter_mut().enumerate() {
                let xv = _mm512_set1_epi32(x.add(r * stride + k).cast::<i32>().read_unaligned());
                acc[0] = _mm512_dpbusd_epi32(acc[0], xv, w0);
                acc[1] = _mm512_dpbusd_epi32(acc[1], xv, w1);
            }
        }
        for (sums, acc) in sums.iter_mut().zip(&acc) {
            _mm512_storeu_si512(sums.as_mut_ptr().cast(), acc[0]);
            _mm512_storeu_si512(sums.as_mut_ptr().add(GROUP).cast(), acc[1]);
        }
    }

    /// Four rows at a time, one group of 16 columns in two halves of 8: the
    /// row's quad broadcast, `vpmaddubsw` (u8 x i8, each two products summed
    /// into an i16: at most 2 * 127 * 127 = 32 258, so it never saturates),
    /// `vpmaddwd` by ones (the quad's two pair sums into int32), added.
    #[target_feature(enable = "avx2")]
    pub unsafe fn tile_avx2(x: &[u8], w: &[i8], stride: usize, sums: &mut [[i32; COLS]; ROWS]) {
        let (x, w) = (x.as_ptr(), w.as_ptr());
        let ones = _mm256_set1_epi16(1);
        for g in 0..COLS / GROUP {
            let w = w.add(g * GROUP * stride);
            for r0 in (0..ROWS).step_by(4) {
                let mut acc = [[_mm256_setzero_si256(); 2]; 4];
                for k in (0..stride).step_by(QUAD) {
                    let w0 = _mm256_loadu_si256(w.add(k * GROUP).cast());
                    let w1 = _mm256_loadu_si256(w.add(k * GROUP + 32).cast());
                    for (r, acc) in acc.iter_mut().enumerate() {
                        let xv = _mm256_set1_epi32(x.add((r0 + r) * stride + k).cast::<i32>().read_unaligned());
                        acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(_mm256_maddubs_epi16(xv, w0), ones));
                        acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(_mm256_maddubs_epi16(xv, w1), ones));
                    }
                }
                for (r, acc) in acc.iter().enumerate() {
                    let out = sums[r0 + r].as_mut_ptr().add(g * GROUP);
                    _mm256_storeu_si256(out.cast(), acc[0]);
                    _mm256_storeu_si256(out.add(8).cast(), acc[1]);
                }
            }
        }
    }

    /// SSE2 has no u8 x i8 product: both sides are widened to i16 and `pmaddwd`
    /// sums each two products into an int32 (8 products an instruction, against 4
    /// for f32 `mulps` + `addps`). The rows' quads are widened once per call, each
    /// doubled to [x0 x1 x2 x3 x0 x1 x2 x3], so that one `pmaddwd` meets a register
    /// holding two columns' quads; W's quads are sign-extended as they are read.
    /// Four rows by four columns at a time, two int32 lanes per column, added at the end.
    pub unsafe fn tile_sse2(x: &[u8], w: &[i8], stride: usize, sums: &mut [[i32; COLS]; ROWS]) {
        let quads = stride / QUAD;
        let mut doubled = vec![_mm_setzero_si128(); ROWS * quads];
        let zero = _mm_setzero_si128();
        for (r, row) in doubled.chunks_exact_mut(quads.max(1)).enumerate().take(ROWS) {
            for (q, d) in row.iter_mut().enumerate() {
                let quad = x.as_ptr().add(r * stride + q * QUAD).cast::<i32>().read_unaligned();
                let wide = _mm_unpacklo_epi8(_mm_cvtsi32_si128(quad), zero);
                *d = _mm_shuffle_epi32::<0b01_00_01_00>(wide);
            }
        }
        let (xq, w) = (doubled.as_ptr(), w.as_ptr());
        for block in 0..COLS / 4 {
            // Four columns: 16 bytes of each quad of their group.
            let w = w.add((block * 4 / GROUP) * GROUP * stride + (block * 4 % GROUP) * QUAD);
            for r0 in (0..ROWS).step_by(4) {
                let mut acc = [[zero; 2]; 4];
                for q in 0..quads {
                    let wq = _mm_loadu_si128(w.add(q * GROUP * QUAD).cast());
                    let sign = _mm_cmpgt_epi8(zero, wq);
                    let (lo, hi) = (_mm_unpacklo_epi8(wq, sign), _mm_unpackhi_epi8(wq, sign));
                    for (r, acc) in acc.iter_mut().enumerate() {
                        let xv = *xq.add((r0 + r) * quads + q);
                        acc[0] = _mm_add_epi32(acc[0], _mm_madd_epi16(xv, lo));
                        acc[1] = _mm_add_epi32(acc[1], _mm_madd_epi16(xv, hi));
                    }
                }
                for (r, [lo, hi]) in acc.into_iter().enumerate() {
                    // [c0 c0' c1 c1'] and [c2 c2' c3 c3'] -> [c0 c1 c2 c3].
                    let (lo, hi) = (_mm_castsi128_ps(lo), _mm_castsi128_ps(hi));
                    let even = _mm_castps_si128(_mm_shuffle_ps::<0b10_00_10_00>(lo, hi));
                    let odd = _mm_castps_si128(_mm_shuffle_ps::<0b11_01_11_01>(lo, hi));
                    _mm_storeu_si128(sums[r0 + r].as_mut_ptr().add(block * 4).cast(), _mm_add_epi32(even, odd));
                }
            }
        }
    }
}

/// x [rows, inner] @ W^T + b through `prepared`; `weight` is W in f32, for the
/// backward pass.
pub fn linear_int8(x: &Tensor, prepared: &Arc<Int8Linear>, weight: &Tensor) -> candle_core::Result<Tensor> {
    x.apply_op1(Int8LinearOp { prepared: prepared.clone(), weight: weight.clone() })
}

struct Int8LinearOp {
    prepared: Arc<Int8Linear>,
    weight: Tensor,
}

impl CustomOp1 for Int8LinearOp {
    fn name(&self) -> &'static str {
        "linear-int8"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = cpu_slice::<f32>(storage, layout, "linear-int8", "input")?;
        let p = &self.prepared;
        let &[rows, inner] = layout.dims() else {
            candle_core::bail!("linear-int8: input {:?}, weight [{}, {}]", layout.dims(), p.out, p.inner)
        };
        if inner != p.inner {
            candle_core::bail!("linear-int8: input {:?}, weight [{}, {}]", layout.dims(), p.out, p.inner)
        }
        Ok((CpuStorage::F32(p.forward(x, rows)), Shape::from((rows, p.out))))
    }

    /// Straight-through: rounding has no useful derivative, so the input's
    /// gradient is the f32 layer's, dy W (integrated gradients in `pipe predict`).
    fn bwd(&self, _x: &Tensor, _y: &Tensor, dy: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(dy.matmul(&self.weight)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values of both signs and several magnitudes, with an outlier column.
    fn values(n: usize, salt: f32) -> Vec<f32> {
        (0..n).map(|i| (i as f32 * 0.618 + salt).sin() * if i % 97 == 3 { 8.0 } else { 1.0 + (i % 5) as f32 }).collect()
    }

    /// Every kernel this CPU has, with its level's name (the portable reference
    /// is tested against them).
    fn kernels() -> Vec<(Level, Tile)> {
        Level::ALL.into_iter().filter_map(|l| kernel(l).map(|k| (l, k))).collect()
    }

    #[test]
    fn the_range_is_that_of_a_running_min_and_max() {
        for len in [0, 1, 15, 16, 17, 384, 1537] {
            let mut x = values(len, 0.7);
            if len > 20 {
                x[3] = f32::NAN;
                x[19] = -0.0;
            }
            let running = x.iter().fold((0f32, 0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            assert_eq!(range_with_zero(&x), running, "{len} values");
        }
    }

    #[test]
    fn a_hand_computed_case() {
        let rounded = [-2.5f32, -1.5, -0.5, 0.5, 1.5, 2.5, 254.49, -511.5].map(round_even);
        assert_eq!(rounded, [-2.0, -2.0, -0.0, 0.0, 2.0, 2.0, 254.0, -512.0]);
        // W rows [63.5, -10.25] (scale 0.5) and [254, 5] (scale 2): -20.5 and 2.5 round to even.
        let layer = Int8Linear::new(&[63.5, -10.25, 254.0, 5.0], &[0.1, -0.1], 2, 2);
        let packed = [(0, 0), (0, 1), (1, 0), (1, 1)].map(|(j, k)| layer.weight[packed_index(j, k, layer.stride)]);
        assert_eq!(
            (packed, [packed_index(1, 0, 4), packed_index(16, 5, 8)]),
            ([127, -20, 127, 2], [4, 8 * 16 + 64 + 1])
        );
        assert_eq!((layer.scale.as_slice(), layer.col_sum.as_slice()), (&[0.5f32, 2.0][..], &[107, 129][..]));
        // x = [2, -1]: range [-1, 2], scale 3/127, zero point round(42.33) = 42;
        // q = [round(84.67) + 42, round(-42.33) + 42] = [127, 0].
        let q = Activations::quantize(&[2.0, -1.0], 2, layer.stride);
        assert_eq!((&q.values[..2], q.zero[0]), (&[127u8, 0][..], 42));
        let s = 3.0f32 / 127.0;
        // Sums: 127*127 - 42*107 = 11635 and 127*127 - 42*129 = 10711.
        let expected = [11635.0 * (s * 0.5) + 0.1, 10711.0 * (s * 2.0) - 0.1];
        for (name, tile) in
            kernels().into_iter().map(|(l, t)| (l.name(), t)).chain([("portable", tile_portable as Tile)])
        {
            let y = layer.forward_with(tile, &[2.0, -1.0], 1);
            assert_eq!(y, expected, "{name}");
        }
        // Near the exact [2*63.5 + 10.25 + 0.1, 2*254 - 5 - 0.1] = [137.35, 502.9]: 137.5 and 505.9,
        // within the bound of the test below (half a step of each operand times the other, summed).
        assert!((expected[0] - 137.35).abs() < 0.2 && (expected[1] - 502.9).abs() < 3.1, "{expected:?}");
    }

    #[test]
    fn every_level_gives_the_same_bits_and_stays_near_the_f64_product() {
        // Sizes off every step and tile, the widest `in` of the study's models (3072) included.
        for (rows, out, inner) in [(7, 5, 3), (33, 19, 130), (20, 70, 67), (9, 6, 3072), (64, 2, 384)] {
            let (x, w, b) = (values(rows * inner, 0.3), values(out * inner, 1.7), values(out, 2.9));
            let layer = Int8Linear::new(&w, &b, out, inner);
            let reference = layer.forward_with(tile_portable, &x, rows);
            for (level, tile) in kernels() {
                let y = layer.forward_with(tile, &x, rows);
                let same = y.iter().zip(&reference).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{level} differs from the portable kernel at {rows}x{out}x{inner}");
                println!("int8 kernel {level}: {rows}x{out}x{inner} same bits as portable");
            }
            // The quantization error bound: each product is off by at most |x| times
            // half a weight step plus |w| times one activation step (half, but the
            // rounded zero point can push an extreme value one step into the clamp),
            // plus their product.
            for r in 0..rows {
                let xr = &x[r * inner..][..inner];
                let (lo, hi) = xr.iter().fold((0f64, 0f64), |(l, h), &v| (l.min(v.into()), h.max(v.into())));
                let sx = (hi - lo) / f64::from(X_MAX);
                for j in 0..out {
                    let wr = &w[j * inner..][..inner];
                    let sw = wr.iter().fold(0f64, |m, &v| m.max(f64::from(v).abs())) / 127.0;
                    let exact: f64 =
                        xr.iter().zip(wr).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum::<f64>() + f64::from(b[j]);
                    let bound: f64 = xr
                        .iter()
                        .zip(wr)
                        .map(|(&a, &b)| f64::from(a).abs() * sw / 2.0 + f64::from(b).abs() * sx + sx * sw / 2.0)
                        .sum::<f64>()
                        * 1.001
                        + 1e-5 * exact.abs();
                    let got = f64::from(reference[r * out + j]);
                    assert!((got - exact).abs() <= bound, "[{r},{j}] {got} vs {exact}: beyond {bound}");
                }
            }
        }
    }

    #[test]
    fn the_thread_split_does_not_show() {
        // Large enough for `fill_rows` to split it; row by row each piece runs alone.
        let (rows, out, inner) = (300, 64, 96);
        let (x, w, b) = (values(rows * inner, 0.1), values(out * inner, 0.2), values(out, 0.3));
        let layer = Int8Linear::new(&w, &b, out, inner);
        let whole = layer.forward(&x, rows);
        let by_row: Vec<f32> = x.chunks_exact(inner).flat_map(|row| layer.forward(row, 1)).collect();
        assert!(whole.iter().zip(&by_row).all(|(a, b)| a.to_bits() == b.to_bits()));
    }

    #[test]
    fn the_op_runs_forward_and_passes_the_f32_gradient_back() {
        use candle_core::{Device, Var};
        let (rows, out, inner) = (3, 4, 5);
        let w = Tensor::from_vec(values(out * inner, 0.5), (out, inner), &Device::Cpu).unwrap();
        let b = Tensor::from_vec(values(out, 0.6), out, &Device::Cpu).unwrap();
        let x = Var::from_tensor(&Tensor::from_vec(values(rows * inner, 0.7), (rows, inner), &Device::Cpu).unwrap())
            .unwrap();
        let prepared = Arc::new(Int8Linear::from_tensors(&w, &b).unwrap());
        let y = linear_int8(x.as_tensor(), &prepared, &w).unwrap();
        let f32_y = x.as_tensor().matmul(&w.t().unwrap()).unwrap().broadcast_add(&b).unwrap();
        let diff = (&y - &f32_y).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(diff < 0.2, "int8 vs f32: {diff}");
        let grads = y.sum_all().unwrap().backward().unwrap();
        let dx = grads.get(x.as_tensor()).unwrap().to_vec2::<f32>().unwrap();
        let column_sums = w.sum(0).unwrap().to_vec1::<f32>().unwrap();
        assert!(dx.iter().all(|row| row == &column_sums), "{dx:?} vs {column_sums:?}");
    }
}
