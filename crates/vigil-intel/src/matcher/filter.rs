//! The matcher's prefilter: a split-block Bloom filter, the layout of Apache Parquet's Bloom
//! filters (parquet-format `BloomFilter.md`): 256-bit blocks of eight 32-bit words, and a key
//! sets one bit in each word of one block. A lookup reads one cache line where a classic
//! Bloom filter reads one per hash function, so an event's lookups each cost at most one
//! cache miss, and the misses of several lookups overlap (see `Matcher::match_entities`).
//!
//! Not a crate: `fastbloom` 0.17 (used before) spreads a key's bits over the whole vector
//! (three cache misses per key when building, up to three per lookup), and the split-block
//! filters published as crates either hash keys themselves or live inside larger crates
//! (parquet); the matcher hashes each value once, case-folded, for filter and table alike.

/// Bits per key: about 1% false positives with eight bits set per key in 256-bit blocks.
const BITS_PER_KEY: usize = 12;

/// The Parquet salts: odd constants that spread a 32-bit key over the eight words.
const SALT: [u32; 8] = [
    0x47b6_137b,
    0x4497_4d91,
    0x8824_ad5b,
    0xa2b7_289d,
    0x7054_95c7,
    0x2df1_424b,
    0x9efc_4947,
    0x5c6b_fb31,
];

/// One block, aligned so that it never straddles two cache lines.
#[derive(Clone, Copy, Default)]
#[repr(align(32))]
struct Block([u32; 8]);

/// A set of 64-bit key hashes that answers "certainly not there" or "maybe there".
#[derive(Clone)]
pub(super) struct BlockFilter {
    blocks: Vec<Block>,
}

impl BlockFilter {
    /// An empty filter sized for `keys` keys.
    pub(super) fn with_keys(keys: usize) -> BlockFilter {
        let blocks = (keys * BITS_PER_KEY).div_ceil(256).max(1);
        BlockFilter {
            blocks: vec![Block::default(); blocks],
        }
    }

    /// The block of a hash: its high 32 bits scaled to the block count (no division).
    #[inline(always)]
    fn block(&self, hash: u64) -> usize {
        (((hash >> 32) * self.blocks.len() as u64) >> 32) as usize
    }

    /// The bit each word of the block gets, from the hash's low 32 bits.
    #[inline(always)]
    fn mask(hash: u64) -> [u32; 8] {
        let key = hash as u32;
        std::array::from_fn(|i| 1 << (key.wrapping_mul(SALT[i]) >> 27))
    }

    /// Adds a key hash.
    #[inline(always)]
    pub(super) fn insert(&mut self, hash: u64) {
        let i = self.block(hash);
        for (word, bit) in self.blocks[i].0.iter_mut().zip(Self::mask(hash)) {
            *word |= bit;
        }
    }

    /// False when `hash` was certainly never inserted. Without early exits, so the loads of
    /// several calls in a row can be in flight together.
    #[inline(always)]
    pub(super) fn contains(&self, hash: u64) -> bool {
        let block = &self.blocks[self.block(hash)].0;
        let missing = block
            .iter()
            .zip(Self::mask(hash))
            .fold(0, |acc, (word, bit)| acc | (bit & !word));
        missing == 0
    }

    /// Starts reading the block of `hash` into the cache, so that a later
    /// [`BlockFilter::contains`] finds it there (see `Matcher::match_entities`).
    #[inline(always)]
    pub(super) fn prefetch(&self, hash: u64) {
        prefetch(&self.blocks[self.block(hash)]);
    }

    /// Bytes held.
    #[cfg(test)]
    pub(super) fn bytes(&self) -> usize {
        self.blocks.len() * std::mem::size_of::<Block>()
    }
}

/// Asks the CPU to start loading the cache line of `item`, without waiting for it.
///
/// A filter probe is a cache miss; a load waits at the head of the reorder buffer, which
/// fills up with the next value's hashing before the next miss is issued, so two probes
/// rarely overlap. A prefetch retires at once: every probe of an event is in flight together.
#[inline(always)]
pub(super) fn prefetch<T>(item: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint with no architectural effect: it never faults nor reads
    // into the program's state, and the pointer comes from a live reference.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(item).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = item;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SplitMix64, for well-spread test hashes.
    fn hashes(seed: u64, count: usize) -> impl Iterator<Item = u64> {
        let mut x = seed;
        (0..count).map(move |_| {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        })
    }

    #[test]
    fn every_key_is_found_and_few_others() {
        let mut f = BlockFilter::with_keys(100_000);
        // 12 bits a key, rounded up to whole 32-byte blocks.
        assert_eq!(f.bytes(), (100_000 * BITS_PER_KEY / 8).next_multiple_of(32));
        for h in hashes(1, 100_000) {
            f.insert(h);
        }
        assert!(hashes(1, 100_000).all(|h| f.contains(h)));
        let false_positives = hashes(2, 100_000).filter(|&h| f.contains(h)).count();
        // About 1% expected at 12 bits per key; well under 2% for these fixed keys.
        assert!(false_positives < 2_000, "{false_positives} false positives");
    }

    #[test]
    fn an_empty_filter_holds_nothing() {
        let f = BlockFilter::with_keys(0);
        assert!(hashes(3, 1000).all(|h| !f.contains(h)));
    }
}
