//! Dynamic int8 quantization of a dense layer, for inference (as PyTorch's
//! `quantize_dynamic` and ONNX Runtime's DynamicQuantizeLinear + MatMulInteger):
//! y = x @ W^T + b with integer products.
//!
//! - W [out, in] is quantized once, symmetric, one scale per output row:
//!   q = round(w / s), s = max|w_row| / 127, so q is in -127..=127.
//! - Each row (token) of x is quantized when the layer runs, asymmetric u8 with a
//!   zero point over [min(x, 0), max(x, 0)] (zero stays exact, as in ONNX Runtime).
//! - Sums are exact int32: Σ (qx - zx) qw = Σ qx qw - zx Σ qw, each product at
//!   most 255 * 127, so `in` up to 66 000 cannot overflow (checked). The results
//!   are dequantized and the bias added in f32, the same scalar expression on
//!   every path.
//!
//! The integer products never saturate on any path: AVX-512 uses VNNI's
//! `vpdpbusd` (u8 x i8, four products summed straight into int32), AVX2 widens
//! both operands to i16 and uses `vpmaddwd` (two products of at most 32 385
//! summed into int32). `vpmaddubsw`, which sums two u8 x i8 products into a
//! saturating i16, is left out: 2 * 255 * 127 exceeds i16, and avoiding that
//! would cost a bit of activation or weight precision. So every level gives the
//! same integers, hence the same output bits, for any thread split (rows are
//! quantized on their own).

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};

use super::cpu_data::cpu_slice;
use super::par::fill_rows;
use super::simd::{self, Level};

/// Values of `in` per step of the widest kernel (64 u8 lanes); rows are padded
/// with zeros to a multiple of it, which adds nothing to the sums.
const STEP: usize = 64;
/// A kernel call computes TILE rows of x against TILE rows of W; x's and W's
/// row counts are padded to multiples of it.
const TILE: usize = 4;
/// The largest `in` whose sums cannot overflow int32 (255 * 127 per product).
const MAX_IN: usize = i32::MAX as usize / (255 * 127);

/// `TILE` x rows (u8) against `TILE` W rows (i8), each `stride` values apart:
/// the int32 dot product of every pair. Unsafe: the level's CPU features must be
/// present, and both slices must hold `TILE * stride` values (`dot_tile` checks).
type Tile = unsafe fn(&[u8], &[i8], usize) -> [[i32; TILE]; TILE];

/// A dense layer's weight and bias, prepared for integer products.
pub struct Int8Linear {
    out: usize,
    inner: usize,
    /// `inner` rounded up to `STEP`.
    stride: usize,
    /// `out` rounded up to `TILE` rows of `stride` values (the padding is zeros).
    weight: Vec<i8>,
    scale: Vec<f32>,
    /// Σ q over each row: the zero point's share of the sums.
    row_sum: Vec<i32>,
    bias: Vec<f32>,
}

impl Int8Linear {
    /// Quantizes W [out, inner] (row-major) and keeps b [out].
    pub fn new(weight: &[f32], bias: &[f32], out: usize, inner: usize) -> Int8Linear {
        assert!(weight.len() == out * inner && bias.len() == out, "int8 linear: W {} values, b {}", weight.len(), out);
        assert!(inner <= MAX_IN, "int8 linear: {inner} inputs could overflow the int32 sums (at most {MAX_IN})");
        let stride = inner.next_multiple_of(STEP);
        let mut q = vec![0i8; out.next_multiple_of(TILE) * stride];
        let mut scale = Vec::with_capacity(out);
        let mut row_sum = Vec::with_capacity(out);
        for (w, q) in weight.chunks_exact(inner.max(1)).take(out).zip(q.chunks_exact_mut(stride.max(1))) {
            let max = w.iter().fold(0f32, |m, v| m.max(v.abs()));
            let s = if max > 0.0 { max / 127.0 } else { 1.0 };
            for (q, &v) in q.iter_mut().zip(w) {
                *q = round_even((v / s).clamp(-127.0, 127.0)) as i8;
            }
            scale.push(s);
            row_sum.push(q.iter().map(|&v| i32::from(v)).sum());
        }
        // An `inner` of 0 leaves every row out of the loop above.
        scale.resize(out, 1.0);
        row_sum.resize(out, 0);
        Int8Linear { out, inner, stride, weight: q, scale, row_sum, bias: bias.to_vec() }
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
        // Inlined into `fill_rows`'s SIMD-compiled context, with the quantization.
        fill_rows(
            rows * out,
            out,
            #[inline(always)]
            |first, y| {
                let n = y.len() / out;
                let q = Activations::quantize(&x[first * inner..(first + n) * inner], inner, stride);
                for r0 in (0..n).step_by(TILE) {
                    let xs = &q.values[r0 * stride..];
                    for c0 in (0..out).step_by(TILE) {
                        let sums = dot_tile(tile, xs, &self.weight[c0 * stride..], stride);
                        for (r, sums) in sums.iter().enumerate().take(n - r0) {
                            let row = &mut y[(r0 + r) * out..][..out];
                            for (c, &sum) in sums.iter().enumerate().take(out - c0) {
                                let j = c0 + c;
                                let exact = sum - q.zero[r0 + r] * self.row_sum[j];
                                row[j] = exact as f32 * (q.scale[r0 + r] * self.scale[j]) + self.bias[j];
                            }
                        }
                    }
                }
            },
        )
    }
}

/// Rows of x quantized to u8, `stride` values each (zeros past `inner`), their
/// count rounded up to `TILE` with zero rows.
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
        let mut values = vec![0u8; rows.next_multiple_of(TILE) * stride];
        let (mut scale, mut zero) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
        for (x, q) in x.chunks_exact(inner.max(1)).zip(values.chunks_exact_mut(stride.max(1))) {
            let (lo, hi) = x.iter().fold((0f32, 0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            let s = if hi > lo { (hi - lo) / 255.0 } else { 1.0 };
            let z = round_even((-lo / s).min(255.0));
            let inv = 1.0 / s;
            for (q, &v) in q.iter_mut().zip(x) {
                // Beyond ±512 steps the clamp to 0..=255 decides alone.
                *q = (round_even((v * inv).clamp(-512.0, 512.0)) + z).clamp(0.0, 255.0) as u8;
            }
            scale.push(s);
            zero.push(z as i32);
        }
        Activations { values, scale, zero }
    }
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

/// `tile` on TILE rows of each, after checking the slices are long enough.
fn dot_tile(tile: Tile, x: &[u8], w: &[i8], stride: usize) -> [[i32; TILE]; TILE] {
    assert!(x.len() >= TILE * stride && w.len() >= TILE * stride, "int8 tile past the end of its rows");
    // SAFETY: `kernel` hands out only kernels the CPU can run; the lengths are checked above.
    unsafe { tile(x, w, stride) }
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
        _ => Some(tile_portable),
    }
}

/// The reference: plain integer loops.
unsafe fn tile_portable(x: &[u8], w: &[i8], stride: usize) -> [[i32; TILE]; TILE] {
    let mut out = [[0i32; TILE]; TILE];
    for (r, out) in out.iter_mut().enumerate() {
        let x = &x[r * stride..][..stride];
        for (c, out) in out.iter_mut().enumerate() {
            let w = &w[c * stride..][..stride];
            *out = x.iter().zip(w).map(|(&a, &b)| i32::from(a) * i32::from(b)).sum();
        }
    }
    out
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::TILE;

    /// 64 values per step: `vpdpbusd` multiplies u8 by i8 and adds each four
    /// products into an int32 lane, without saturation.
    /// (No closures in these functions: a closure is compiled without the
    /// function's target features, and the intrinsics in it would not be inlined.)
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub unsafe fn tile_vnni(x: &[u8], w: &[i8], stride: usize) -> [[i32; TILE]; TILE] {
        let (x, w) = (x.as_ptr(), w.as_ptr());
        let mut acc = [[_mm512_setzero_si512(); TILE]; TILE];
        let mut wv = [_mm512_setzero_si512(); TILE];
        for k in (0..stride).step_by(64) {
            for (c, wv) in wv.iter_mut().enumerate() {
                *wv = _mm512_loadu_si512(w.add(c * stride + k).cast());
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                let xv = _mm512_loadu_si512(x.add(r * stride + k).cast());
                for (acc, &wv) in acc.iter_mut().zip(&wv) {
                    *acc = _mm512_dpbusd_epi32(*acc, xv, wv);
                }
            }
        }
        let mut out = [[0i32; TILE]; TILE];
        for (out, acc) in out.iter_mut().zip(&acc) {
            for (out, &acc) in out.iter_mut().zip(acc) {
                *out = _mm512_reduce_add_epi32(acc);
            }
        }
        out
    }

    /// 16 values per step: both operands widened to i16, `vpmaddwd` adds each two
    /// products (at most 2 * 255 * 127) into an int32 lane. Two columns at a time
    /// keep the 8 accumulators and operands within AVX2's 16 registers.
    #[target_feature(enable = "avx2")]
    pub unsafe fn tile_avx2(x: &[u8], w: &[i8], stride: usize) -> [[i32; TILE]; TILE] {
        let (x, w) = (x.as_ptr(), w.as_ptr());
        let mut out = [[0i32; TILE]; TILE];
        for c0 in (0..TILE).step_by(2) {
            let mut acc = [[_mm256_setzero_si256(); 2]; TILE];
            for k in (0..stride).step_by(16) {
                let wv = [
                    _mm256_cvtepi8_epi16(_mm_loadu_si128(w.add(c0 * stride + k).cast())),
                    _mm256_cvtepi8_epi16(_mm_loadu_si128(w.add((c0 + 1) * stride + k).cast())),
                ];
                for (r, acc) in acc.iter_mut().enumerate() {
                    let xv = _mm256_cvtepu8_epi16(_mm_loadu_si128(x.add(r * stride + k).cast()));
                    for (acc, &wv) in acc.iter_mut().zip(&wv) {
                        *acc = _mm256_add_epi32(*acc, _mm256_madd_epi16(xv, wv));
                    }
                }
            }
            for (out, acc) in out.iter_mut().zip(&acc) {
                out[c0] = sum8(acc[0]);
                out[c0 + 1] = sum8(acc[1]);
            }
        }
        out
    }

    #[target_feature(enable = "avx2")]
    unsafe fn sum8(v: __m256i) -> i32 {
        let v = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        let v = _mm_add_epi32(v, _mm_unpackhi_epi64(v, v));
        let v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0b01));
        _mm_cvtsi128_si32(v)
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

    /// Every kernel this CPU has, with its level's name.
    fn kernels() -> Vec<(Level, Tile)> {
        Level::ALL.into_iter().filter_map(|l| kernel(l).map(|k| (l, k))).collect()
    }

    #[test]
    fn a_hand_computed_case() {
        let rounded = [-2.5f32, -1.5, -0.5, 0.5, 1.5, 2.5, 254.49, -511.5].map(round_even);
        assert_eq!(rounded, [-2.0, -2.0, -0.0, 0.0, 2.0, 2.0, 254.0, -512.0]);
        // W rows [63.5, -10.25] (scale 0.5) and [254, 5] (scale 2): -20.5 and 2.5 round to even.
        let layer = Int8Linear::new(&[63.5, -10.25, 254.0, 5.0], &[0.1, -0.1], 2, 2);
        assert_eq!((&layer.weight[..2], &layer.weight[layer.stride..][..2]), (&[127i8, -20][..], &[127i8, 2][..]));
        assert_eq!((layer.scale.as_slice(), layer.row_sum.as_slice()), (&[0.5f32, 2.0][..], &[107, 129][..]));
        // x = [2, -1]: range [-1, 2], scale 3/255, zero point 85; q = [170 + 85, -85 + 85] = [255, 0].
        let q = Activations::quantize(&[2.0, -1.0], 2, layer.stride);
        assert_eq!((&q.values[..2], q.zero[0]), (&[255u8, 0][..], 85));
        let s = 3.0f32 / 255.0;
        // Sums: 255*127 - 85*107 = 23290 and 255*127 - 85*129 = 21420.
        let expected = [23290.0 * (s * 0.5) + 0.1, 21420.0 * (s * 2.0) - 0.1];
        for (level, tile) in kernels() {
            let y = layer.forward_with(tile, &[2.0, -1.0], 1);
            assert_eq!(y, expected, "{level}");
        }
        // Near the exact [2*63.5 + 10.25 + 0.1, 2*254 - 5 - 0.1] = [137.35, 502.9].
        assert!((expected[0] - 137.35).abs() < 0.3 && (expected[1] - 502.9).abs() < 1.1, "{expected:?}");
    }

    #[test]
    fn every_level_gives_the_same_bits_and_stays_near_the_f64_product() {
        // Sizes off every step and tile, the widest `in` of the study's models (3072) included.
        for (rows, out, inner) in [(7, 5, 3), (33, 19, 130), (9, 6, 3072), (64, 2, 384)] {
            let (x, w, b) = (values(rows * inner, 0.3), values(out * inner, 1.7), values(out, 2.9));
            let layer = Int8Linear::new(&w, &b, out, inner);
            let reference = layer.forward_with(tile_portable, &x, rows);
            for (level, tile) in kernels() {
                let y = layer.forward_with(tile, &x, rows);
                let same = y.iter().zip(&reference).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{level} differs from the portable kernel at {rows}x{out}x{inner}");
                println!("int8 kernel {level}: {rows}x{out}x{inner} same bits as portable");
            }
            // The quantization error bound: each product is off by at most
            // |x| * half a weight step + |w| * half an activation step (+ their product).
            for r in 0..rows {
                let xr = &x[r * inner..][..inner];
                let (lo, hi) = xr.iter().fold((0f64, 0f64), |(l, h), &v| (l.min(v.into()), h.max(v.into())));
                let sx = (hi - lo) / 255.0;
                for j in 0..out {
                    let wr = &w[j * inner..][..inner];
                    let sw = wr.iter().fold(0f64, |m, &v| m.max(f64::from(v).abs())) / 127.0;
                    let exact: f64 =
                        xr.iter().zip(wr).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum::<f64>() + f64::from(b[j]);
                    let bound: f64 = xr
                        .iter()
                        .zip(wr)
                        .map(|(&a, &b)| f64::from(a).abs() * sw / 2.0 + f64::from(b).abs() * sx / 2.0 + sx * sw / 4.0)
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
