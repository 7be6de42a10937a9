//! Seeded randomness. candle's CPU RNG cannot be seeded, so every random draw
//! (init, dropout masks, shuffles, splits) comes from a ChaCha stream derived
//! from the stage seed and a purpose label: adding a new consumer never shifts
//! the numbers another consumer sees.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub fn derive(seed: u64, purpose: &str) -> ChaCha8Rng {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&seed.to_le_bytes());
    hasher.update(purpose.as_bytes());
    ChaCha8Rng::from_seed(*hasher.finalize().as_bytes())
}
