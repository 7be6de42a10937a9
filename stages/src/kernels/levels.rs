//! Every kernel at every SIMD level the CPU has, held to README.md's promises:
//! the elementwise ops (forward and backward) and AdamW's update give the same
//! bits at every level; the matrix products come within 1e-5 of an f64 product
//! of the same operands, relative to the sum of the magnitudes of its terms.
//!
//! `simd::level()` is fixed once per process, so the test runs its own binary
//! once per level with `PIPE_SIMD` set and `OUT` naming a directory; there it
//! computes a fixed battery from deterministic inputs and writes each result to
//! a file, which the parent process then compares.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, Var};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::gemm::{self, Operand};
use super::simd::{self, Level};
use super::{bf16, dropout, gelu, head_split, layer_norm, linear, lookup, residual, softmax, Precision};
use crate::testkit::levels::{levels_here, run_at, say};
use crate::train::gradients::{Gradients, TableRows};
use crate::train::optim::AdamW;

/// Set in a child: the directory it writes the battery into.
const OUT: &str = "PIPE_LEVELS_OUT";
const WHO: &str = "kernels::levels";
/// The largest error a product may have, relative to the sum of |terms|.
const PRODUCT_TOLERANCE: f64 = 1e-5;

#[test]
fn every_kernel_keeps_its_promises_at_every_level() {
    if let Some(dir) = std::env::var_os(OUT) {
        return write_battery(Path::new(&dir));
    }
    let levels = levels_here(WHO);
    let tmp = tempfile::tempdir().expect("a temp dir");
    // This test's name as the test harness knows it: its path without the crate's name.
    let module = module_path!().split_once("::").expect("a module path").1;
    let this_test = format!("{module}::every_kernel_keeps_its_promises_at_every_level");
    let runs: Vec<(Level, Battery)> = levels
        .iter()
        .map(|&level| {
            let dir = tmp.path().join(level.name());
            assert_eq!(run_at(level, &["--exact", &this_test], &[(OUT, dir.as_os_str())]), 1);
            let ran_at = std::fs::read_to_string(dir.join("level")).expect("the child's level");
            assert_eq!(ran_at, level.name(), "PIPE_SIMD={level} did not set the level");
            (level, Battery::read(&dir))
        })
        .collect();

    let (lowest, reference) = &runs[0];
    for (level, run) in &runs[1..] {
        assert_eq!(run.same.keys().collect::<Vec<_>>(), reference.same.keys().collect::<Vec<_>>());
        for (name, values) in &run.same {
            same_bits(name, (*lowest, &reference.same[name]), (*level, values));
        }
    }
    let mut worst = vec![];
    for product in products() {
        let (want, scale) = product.reference();
        for (level, run) in &runs {
            let got = run.near.get(product.name.as_str()).unwrap_or_else(|| panic!("{level}: no {}", product.name));
            assert_eq!(got.len(), want.len(), "{} at {level}: length", product.name);
            let (at, err) = (0..got.len())
                .map(|i| (i, (f64::from(got[i]) - want[i]).abs() / scale[i].max(f64::MIN_POSITIVE)))
                .fold((0, 0.0), |a, b| if b.1 > a.1 { b } else { a });
            assert!(
                err <= PRODUCT_TOLERANCE,
                "{} at {level}: value {at} is {} where the f64 product is {} (error {err:.2e} of the sum of |terms| {})",
                product.name,
                got[at],
                want[at],
                scale[at]
            );
            worst.push(err);
        }
    }
    let names: Vec<&str> = levels.iter().map(|l| l.name()).collect();
    let values: usize = reference.same.values().map(Vec::len).sum();
    say(&format!(
        "{WHO}: levels {} ran; {} elementwise results ({values} values) gave the same bits at each, {} products \
         came within {:.1e} (worst {:.1e})",
        names.join(", "),
        reference.same.len(),
        reference.near.len(),
        PRODUCT_TOLERANCE,
        worst.iter().copied().fold(0.0, f64::max)
    ));
}

/// Panics at the first value whose bits differ between two levels.
fn same_bits(name: &str, (a_level, a): (Level, &[f32]), (b_level, b): (Level, &[f32])) {
    assert_eq!(a.len(), b.len(), "{name}: {} values at {a_level}, {} at {b_level}", a.len(), b.len());
    if let Some(i) = (0..a.len()).find(|&i| a[i].to_bits() != b[i].to_bits()) {
        panic!(
            "{name}: value {i} is {:e} ({:#010x}) at {a_level} but {:e} ({:#010x}) at {b_level}",
            a[i],
            a[i].to_bits(),
            b[i],
            b[i].to_bits()
        );
    }
}

/// One level's results: `same` must match every level's bit for bit, `near` are
/// the products, held to their f64 reference.
struct Battery {
    same: BTreeMap<String, Vec<f32>>,
    near: BTreeMap<String, Vec<f32>>,
}

impl Battery {
    fn read(dir: &Path) -> Battery {
        let group = |sub: &str| -> BTreeMap<String, Vec<f32>> {
            let entries = std::fs::read_dir(dir.join(sub)).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
            entries
                .map(|e| {
                    let e = e.expect("a directory entry");
                    let bytes = std::fs::read(e.path()).expect("a result file");
                    let values = bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
                    (e.file_name().to_string_lossy().into_owned(), values)
                })
                .collect()
        };
        Battery { same: group("same"), near: group("near") }
    }
}

/// The child's part: the level it runs at, then each result as raw f32 bits.
fn write_battery(dir: &Path) {
    let write = |sub: &str, results: Vec<(String, Vec<f32>)>| {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        for (name, values) in results {
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            std::fs::write(dir.join(sub).join(name), bytes).unwrap();
        }
    };
    write("same", elementwise());
    write("near", products().iter().map(|p| (p.name.clone(), p.compute())).collect());
    std::fs::write(dir.join("level"), simd::level().name()).unwrap();
}

/// `len` values in [-scale, scale), a hash (splitmix64) of the index and `salt`.
fn values(len: usize, salt: u64, scale: f32) -> Vec<f32> {
    (0..len as u64)
        .map(|i| {
            let mut z = (salt << 32 | i).wrapping_add(0x9e37_79b9_7f4a_7c15);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            ((z >> 40) as f32 / (1u32 << 23) as f32 - 1.0) * scale
        })
        .collect()
}

fn tensor(values: Vec<f32>, shape: &[usize]) -> Tensor {
    Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
}

fn var(values: Vec<f32>, shape: &[usize]) -> Var {
    Var::from_tensor(&tensor(values, shape)).unwrap()
}

fn flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

/// `op`'s result on the `inputs`, then the gradients of sum(result * dy) (whose
/// gradient with respect to the result is dy, bit for bit) for each input.
fn with_gradients(name: &str, inputs: &[&Var], op: impl Fn() -> Tensor) -> Vec<(String, Vec<f32>)> {
    let y = op();
    let dy = tensor(values(y.elem_count(), 99, 2.0), y.dims());
    let grads = (&y * &dy).unwrap().sum_all().unwrap().backward().unwrap();
    let mut out = vec![(format!("{name}.forward"), flat(&y))];
    for (i, x) in inputs.iter().enumerate() {
        let grad = grads.get(x.as_tensor()).unwrap_or_else(|| panic!("{name}: no gradient for input {i}"));
        out.push((format!("{name}.backward{i}"), flat(grad)));
    }
    out
}

/// The elementwise ops' results, forward and backward. Shapes end in partial
/// 16-value blocks, group partial 16-row groups, and some pass the size above
/// which the loops split over threads.
fn elementwise() -> Vec<(String, Vec<f32>)> {
    let mut out = vec![];

    // GELU over six magnitudes, with signed zeros, huge and subnormal values.
    let mut x = values(300 * 97, 1, 1.0);
    for (i, v) in x.iter_mut().enumerate() {
        *v *= [1e-3, 0.1, 1.0, 3.0, 10.0, 100.0][i % 6];
    }
    x[..6].copy_from_slice(&[0.0, -0.0, 1e30, -1e30, 1e-40, -1e-40]);
    let x = var(x, &[300, 97]);
    out.extend(with_gradients("gelu", &[&x], || gelu::gelu_erf(&x).unwrap()));

    // Softmax with padded keys (the lowest f32 added), rows of 23 and of 128.
    for (b, h, queries, keys, salt) in [(3, 4, 23, 23, 2), (2, 12, 50, 128, 3)] {
        let scores = var(values(b * h * queries * keys, salt, 8.0), &[b, h, queries, keys]);
        let mask: Vec<f32> =
            values(b * keys, salt + 100, 1.0).into_iter().map(|u| if u < -0.6 { f32::MIN } else { 0.0 }).collect();
        let mask = tensor(mask, &[b, keys]);
        let name = format!("softmax{keys}");
        out.extend(with_gradients(&name, &[&scores], || softmax::masked_softmax(&scores, 0.125, &mask).unwrap()));
    }

    // LayerNorm: rows of 23 and of 384, off-centre values of several magnitudes.
    for (rows, dim, salt) in [(37, 23, 4), (130, 384, 5)] {
        let x: Vec<f32> =
            values(rows * dim, salt, 3.0).iter().enumerate().map(|(i, v)| v * (1 + i % 5) as f32 + 0.7).collect();
        let x = var(x, &[rows, dim]);
        let w = var(values(dim, salt + 100, 0.5).iter().map(|v| v + 1.0).collect(), &[dim]);
        let b = var(values(dim, salt + 200, 0.1), &[dim]);
        let name = format!("layer_norm{dim}");
        out.extend(with_gradients(&name, &[&x, &w, &b], || layer_norm::layer_norm(&x, &w, &b, 1e-12).unwrap()));
    }

    let (a, b) = (var(values(300 * 97, 6, 5.0), &[300, 97]), var(values(300 * 97, 7, 5.0), &[300, 97]));
    out.extend(with_gradients("residual", &[&a, &b], || residual::residual(&a, &b).unwrap()));

    // Dropout: the mask alone (dropout of ones), then on values, from a generator mid-stream.
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let ones = Tensor::ones((250, 97), candle_core::DType::F32, &Device::Cpu).unwrap();
    out.push(("dropout.mask".into(), flat(&dropout::dropout(&ones, 0.1, &mut rng).unwrap())));
    let x = var(values(250 * 97, 8, 4.0), &[250, 97]);
    out.extend(with_gradients("dropout", &[&x], || dropout::dropout(&x, 0.1, &mut rng.clone()).unwrap()));

    // Lookup with repeated ids (the backward adds their rows).
    let table = var(values(50 * 96, 9, 1.0), &[50, 96]);
    let ids: Vec<u32> = (0..37u32).map(|i| (i * 7) % 50 % 31).collect();
    let ids = Tensor::new(ids.as_slice(), &Device::Cpu).unwrap();
    out.extend(with_gradients("lookup", &[&table], || lookup::lookup(table.as_tensor(), &ids).unwrap()));

    let x = var(values(3 * 23 * 4 * 20, 10, 1.0), &[3, 23, 80]);
    out.extend(with_gradients("split_heads", &[&x], || head_split::split_heads(&x, 4).unwrap()));
    let x = var(values(3 * 4 * 23 * 20, 11, 1.0), &[3, 4, 23, 20]);
    out.extend(with_gradients("merge_heads", &[&x], || head_split::merge_heads(&x).unwrap()));

    // AdamW: two steps, clipped, on a decayed parameter and a bias, one large enough to split.
    let (w, bias) = (var(values(20_000, 12, 1.0), &[20_000]), var(values(70, 13, 1.0), &[70]));
    let mut optim = AdamW::new(vec![("w".into(), w.clone()), ("bias".into(), bias.clone())], 0.01).unwrap();
    for (step, scale) in [(0, Some(0.5)), (1, None)] {
        let w_loss = (w.as_tensor() * tensor(values(20_000, 14 + step, 1.0), &[20_000])).unwrap().sum_all().unwrap();
        let b_loss = (bias.as_tensor() * tensor(values(70, 16 + step, 1.0), &[70])).unwrap().sum_all().unwrap();
        let loss = (w_loss + b_loss).unwrap();
        optim.step(&Gradients::dense(loss.backward().unwrap()), 1e-3, scale).unwrap();
    }
    out.push(("adamw.weight".into(), flat(w.as_tensor())));
    out.push(("adamw.bias".into(), flat(bias.as_tensor())));
    // AdamW on a table whose gradient is kept as rows, large enough to split: the
    // other rows move by their moments and decay alone.
    let table = var(values(800 * 48, 18, 1.0), &[800, 48]);
    let mut optim = AdamW::new(vec![("table".into(), table.clone())], 0.01).unwrap();
    for (step, scale) in [(0, Some(0.5)), (1, None)] {
        let rows = TableRows { rows: vec![0, 7, 400, 799], values: values(4 * 48, 19 + step, 1.0), width: 48 };
        let grads = Gradients::with_table_rows(GradStore::default(), table.clone(), rows);
        optim.step(&grads, 1e-3, scale).unwrap();
    }
    out.push(("adamw.table".into(), flat(table.as_tensor())));
    out
}

/// Which code computes a product.
#[derive(Clone, Copy)]
enum Via {
    /// `gemm::product`: f32.
    Gemm,
    /// `Precision::product`, with the bias.
    Precision(Precision),
    /// One of the `linear` op's four products at a precision.
    Linear(Precision, Part),
}

#[derive(Clone, Copy, PartialEq)]
enum Part {
    Forward,
    InputGradient,
    WeightGradient,
    BiasGradient,
}

/// A matrix, row-major, or transposed: row-major storage of its transpose.
struct Matrix {
    data: Vec<f32>,
    transposed: bool,
}

impl Matrix {
    /// The matrix as an operand of `rows` x `cols`.
    fn view(&self, rows: usize, cols: usize) -> Operand<'_> {
        // A transposed one is stored as `cols` x `rows`.
        if self.transposed {
            Operand::transposed(&self.data, rows)
        } else {
            Operand::rows(&self.data, cols)
        }
    }
}

/// `lhs` (m x k) times `rhs` (k x n), plus `bias` on every row, by `via`.
struct Product {
    name: String,
    via: Via,
    m: usize,
    n: usize,
    k: usize,
    lhs: Matrix,
    rhs: Matrix,
    bias: Option<Vec<f32>>,
}

/// The linear op's shapes: rows, outputs, inputs.
const LINEAR: (usize, usize, usize) = (45, 80, 96);

/// The linear op's operands: input, weight, bias, and the gradient of its result.
fn linear_operands() -> [Vec<f32>; 4] {
    let (rows, out, inp) = LINEAR;
    [values(rows * inp, 30, 1.0), values(out * inp, 31, 0.2), values(out, 32, 0.1), values(rows * out, 33, 1.0)]
}

/// The products: plain and with bias at both precisions, with operands
/// transposed as the linear op passes them, in sizes that leave partial tiles,
/// and the linear op's forward and backward products.
fn products() -> Vec<Product> {
    let mut all = vec![];
    let shapes = [
        (77, 70, 129, false, false),
        (130, 384, 384, false, true),
        (33, 1536, 384, false, true),
        (1, 70, 77, false, false),
        (80, 96, 45, true, false),
    ];
    for (s, (m, n, k, lhs_t, rhs_t)) in shapes.into_iter().enumerate() {
        let salt = 40 + 3 * s as u64;
        let lhs = || Matrix { data: values(m * k, salt, 1.0), transposed: lhs_t };
        let rhs = || Matrix { data: values(k * n, salt + 1, 0.5), transposed: rhs_t };
        let bias = values(n, salt + 2, 0.3);
        for (tag, via) in
            [("gemm", Via::Gemm), ("fp32", Via::Precision(Precision::Fp32)), ("bf16", Via::Precision(Precision::Bf16))]
        {
            let bias = matches!(via, Via::Precision(_)).then(|| bias.clone());
            all.push(Product { name: format!("{tag}.{m}x{n}x{k}"), via, m, n, k, lhs: lhs(), rhs: rhs(), bias });
        }
    }
    let (rows, out, inp) = LINEAR;
    for precision in [Precision::Fp32, Precision::Bf16] {
        let [x, w, b, dy] = linear_operands();
        let mat = |data: &Vec<f32>, transposed| Matrix { data: data.clone(), transposed };
        let parts = [
            (Part::Forward, rows, out, inp, mat(&x, false), mat(&w, true), Some(b.clone())),
            (Part::InputGradient, rows, inp, out, mat(&dy, false), mat(&w, false), None),
            (Part::WeightGradient, out, inp, rows, mat(&dy, true), mat(&x, false), None),
            (Part::BiasGradient, 1, out, rows, mat(&vec![1.0; rows], false), mat(&dy, false), None),
        ];
        for (part, m, n, k, lhs, rhs, bias) in parts {
            let name = format!("linear.{}.{}", precision.name(), ["forward", "dx", "dweight", "dbias"][part as usize]);
            all.push(Product { name, via: Via::Linear(precision, part), m, n, k, lhs, rhs, bias });
        }
    }
    all
}

impl Product {
    fn operands(&self) -> (Operand<'_>, Operand<'_>) {
        (self.lhs.view(self.m, self.k), self.rhs.view(self.k, self.n))
    }

    /// Whether the operands are rounded to bf16 first (the bias gradient is an f32 product at any precision).
    fn bf16(&self) -> bool {
        match self.via {
            Via::Gemm => false,
            Via::Precision(p) => p == Precision::Bf16,
            Via::Linear(p, part) => p == Precision::Bf16 && part != Part::BiasGradient,
        }
    }

    fn compute(&self) -> Vec<f32> {
        let (lhs, rhs) = self.operands();
        match self.via {
            Via::Gemm => gemm::product(self.m, self.n, self.k, lhs, rhs),
            Via::Precision(p) => p.product(self.m, self.n, self.k, lhs, rhs, self.bias.as_deref()),
            Via::Linear(precision, part) => {
                let (rows, out, inp) = LINEAR;
                let [x, w, b, dy] = linear_operands();
                let (x, w, b) = (var(x, &[rows, inp]), var(w, &[out, inp]), var(b, &[out]));
                let y = linear::linear(&x, &w, &b, precision).unwrap();
                let grads = (&y * tensor(dy, &[rows, out])).unwrap().sum_all().unwrap().backward().unwrap();
                match part {
                    Part::Forward => flat(&y),
                    Part::InputGradient => flat(grads.get(&x).unwrap()),
                    Part::WeightGradient => flat(grads.get(&w).unwrap()),
                    Part::BiasGradient => flat(grads.get(&b).unwrap()),
                }
            }
        }
    }

    /// The product in f64 (of the bf16-rounded operands where the product rounds
    /// them), and for each value the sum of the magnitudes of its terms.
    fn reference(&self) -> (Vec<f64>, Vec<f64>) {
        let (lhs, rhs) = self.operands();
        let at = |op: Operand, i: usize, j: usize| {
            let v = op.data[i * op.rs + j * op.cs];
            f64::from(if self.bf16() { bf16::widen(bf16::round(v)) } else { v })
        };
        let (mut sums, mut scales) = (vec![0.0; self.m * self.n], vec![0.0; self.m * self.n]);
        for i in 0..self.m {
            for j in 0..self.n {
                let bias = self.bias.as_ref().map_or(0.0, |b| f64::from(b[j]));
                let (mut sum, mut scale) = (bias, bias.abs());
                for l in 0..self.k {
                    let term = at(lhs, i, l) * at(rhs, l, j);
                    sum += term;
                    scale += term.abs();
                }
                (sums[i * self.n + j], scales[i * self.n + j]) = (sum, scale);
            }
        }
        (sums, scales)
    }
}
