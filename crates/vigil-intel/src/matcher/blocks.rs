//! CIDR blocks as a sorted list of address ranges: the matcher's table of IPv4 or IPv6 blocks,
//! where every block covering an address matches, not only the longest.
//!
//! CIDR blocks are nested or apart, never overlapping otherwise, so they cut the address
//! space into ranges each covered by one innermost block (or none), and each block lies in
//! at most one smallest enclosing block. A lookup is one binary search over the ranges' first
//! addresses and a walk up the enclosing blocks: about a hundred instructions, where the
//! `prefix-trie` map this replaced took about 450 per longest-prefix match, two or more per
//! covered address.

/// An address as bits (`u32` for IPv4, `u128` for IPv6).
pub(super) trait Bits: Copy + Ord {
    /// Bits in an address.
    const WIDTH: u8;
    /// The last address of the block of `len` bits at `start`.
    fn last_of(start: Self, len: u8) -> Self;
    /// The address after this one, if any.
    fn next(self) -> Option<Self>;
    /// The address's top 16 bits: its slot in [`Blocks`]'s index.
    fn top16(self) -> usize;
    /// The first address whose top 16 bits are `top`.
    fn from_top16(top: usize) -> Self;
}

impl Bits for u32 {
    const WIDTH: u8 = 32;
    fn last_of(start: u32, len: u8) -> u32 {
        start | u32::MAX.checked_shr(u32::from(len)).unwrap_or(0)
    }
    fn next(self) -> Option<u32> {
        self.checked_add(1)
    }
    fn top16(self) -> usize {
        (self >> 16) as usize
    }
    fn from_top16(top: usize) -> u32 {
        (top as u32) << 16
    }
}

impl Bits for u128 {
    const WIDTH: u8 = 128;
    fn last_of(start: u128, len: u8) -> u128 {
        start | u128::MAX.checked_shr(u32::from(len)).unwrap_or(0)
    }
    fn next(self) -> Option<u128> {
        self.checked_add(1)
    }
    fn top16(self) -> usize {
        (self >> 112) as usize
    }
    fn from_top16(top: usize) -> u128 {
        (top as u128) << 112
    }
}

/// No block.
const NONE: u32 = u32::MAX;

/// Blocks of one address family, each with a value (the matcher's indicator position).
pub(super) struct Blocks<T> {
    /// First address of each range, ascending; the first range starts at the lowest address.
    starts: Vec<T>,
    /// The innermost block covering each range (an index into `blocks`), or [`NONE`].
    inner: Vec<u32>,
    /// Per block: its value and its smallest enclosing block (or [`NONE`]).
    blocks: Vec<(u32, u32)>,
    /// With many ranges: for each value of the top 16 address bits, the first range starting
    /// at or above it (65,537 entries), so a lookup searches only the ranges of its own top
    /// bits — a few cache lines instead of a dozen dependent reads down the whole list.
    index: Vec<u32>,
}

/// Ranges from which [`Blocks`] keeps an index (below, the whole list is a few cache lines).
const INDEXED: usize = 1024;

impl<T: Bits> Default for Blocks<T> {
    fn default() -> Self {
        Blocks::build(Vec::new())
    }
}

impl<T: Bits> Blocks<T> {
    /// The table of `blocks`: (network address with the host bits clear, prefix length,
    /// value). Each (network, length) is given once.
    pub(super) fn build(mut blocks: Vec<(T, u8, u32)>) -> Blocks<T> {
        // By first address, then widest first: a block comes after every block holding it.
        blocks.sort_unstable_by_key(|&(start, len, _)| (start, len));
        let mut t = Blocks {
            starts: Vec::with_capacity(2 * blocks.len() + 1),
            inner: Vec::with_capacity(2 * blocks.len() + 1),
            blocks: Vec::with_capacity(blocks.len()),
            index: Vec::new(),
        };
        // Blocks open at the current address, innermost last: (last address, index).
        let mut open: Vec<(T, u32)> = Vec::with_capacity(T::WIDTH as usize + 1);
        for (index, &(start, len, value)) in blocks.iter().enumerate() {
            let index = index as u32;
            while let Some(&(last, _)) = open.last().filter(|(last, _)| *last < start) {
                open.pop();
                if let Some(after) = last.next() {
                    t.range(after, open.last().map_or(NONE, |o| o.1));
                }
            }
            t.blocks.push((value, open.last().map_or(NONE, |o| o.1)));
            t.range(start, index);
            open.push((T::last_of(start, len), index));
        }
        while let Some((last, _)) = open.pop() {
            if let Some(after) = last.next() {
                t.range(after, open.last().map_or(NONE, |o| o.1));
            }
        }
        if t.starts.len() >= INDEXED {
            let mut at = 0;
            t.index = (0..=1usize << 16)
                .map(|top| {
                    if top < 1 << 16 {
                        let first = T::from_top16(top);
                        while t.starts.get(at).is_some_and(|&s| s < first) {
                            at += 1;
                        }
                    } else {
                        at = t.starts.len();
                    }
                    at as u32
                })
                .collect();
        }
        t
    }

    /// Starts a range at `start` whose innermost block is `inner`; a range already starting
    /// there is replaced (a block ended just before, or a wider one starts there too).
    fn range(&mut self, start: T, inner: u32) {
        if self.starts.last() == Some(&start) {
            *self.inner.last_mut().expect("as many as starts") = inner;
        } else if self.inner.last() != Some(&inner) {
            self.starts.push(start);
            self.inner.push(inner);
        }
    }

    /// True when there is no block.
    pub(super) fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Calls `visit` with the value of every block covering `addr`, widest first.
    #[inline]
    pub(super) fn covering(&self, addr: T, visit: &mut impl FnMut(u32)) {
        let i = match self.index.get(addr.top16()..addr.top16() + 2) {
            // Every range below `lo` starts at or below `addr`; none from `hi` on does.
            Some(&[lo, hi]) => {
                let (lo, hi) = (lo as usize, hi as usize);
                lo + self.starts[lo..hi].partition_point(|&s| s <= addr)
            }
            _ => self.starts.partition_point(|&s| s <= addr),
        };
        if i > 0 {
            self.up_from(self.inner[i - 1], visit);
        }
    }

    /// `visit` for the blocks enclosing `block`, widest first, then for `block` itself.
    fn up_from(&self, block: u32, visit: &mut impl FnMut(u32)) {
        if let Some(&(value, parent)) = self.blocks.get(block as usize) {
            self.up_from(parent, visit);
            visit(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipnet::{Ipv4Net, Ipv6Net};
    use prefix_trie::PrefixMap;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn xorshift(seed: u64) -> impl FnMut() -> u64 {
        let mut x = seed;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    /// Every block covering an address, widest first, as `prefix-trie`'s cover iterator
    /// gives them, over nested and disjoint blocks of every length (the whole space, single
    /// addresses and the highest block among them).
    #[test]
    fn covering_is_the_tries_cover_v4() {
        let mut next = xorshift(0x1234_5678);
        let mut map = PrefixMap::<Ipv4Net, u32>::new();
        for pos in 0..3000u32 {
            let len = (next() % 33) as u8;
            // Half of them in a small corner of the space, so that they nest.
            let addr = if pos % 2 == 0 {
                next() as u32 & 0x0fff_ffff
            } else {
                next() as u32
            };
            map.insert(
                Ipv4Net::new(Ipv4Addr::from(addr), len).unwrap().trunc(),
                pos,
            );
        }
        map.insert("0.0.0.0/0".parse().unwrap(), 5000);
        map.insert("255.255.255.255/32".parse().unwrap(), 5001);
        map.insert("255.255.255.0/24".parse().unwrap(), 5002);
        let blocks = Blocks::build(
            map.iter()
                .map(|(n, &v)| (u32::from(n.network()), n.prefix_len(), v))
                .collect(),
        );
        assert!(
            !blocks.index.is_empty(),
            "the indexed search is the one tested"
        );
        let mut probes: Vec<u32> = (0..20_000)
            .map(|i| {
                let r = next() as u32;
                if i % 2 == 0 { r & 0x0fff_ffff } else { r }
            })
            .collect();
        // Each block's first and last address and the ones just outside.
        for (n, _) in map.iter() {
            let (first, last) = (u32::from(n.network()), u32::from(n.broadcast()));
            probes.extend([first, last, first.wrapping_sub(1), last.wrapping_add(1)]);
        }
        for addr in probes {
            let host = Ipv4Net::from(Ipv4Addr::from(addr));
            let mut got = Vec::new();
            blocks.covering(addr, &mut |v| got.push(v));
            let want: Vec<u32> = map.cover_values(&host).copied().collect();
            assert_eq!(got, want, "{host}");
        }
    }

    #[test]
    fn covering_is_the_tries_cover_v6() {
        let mut next = xorshift(0x8765_4321);
        let mut map = PrefixMap::<Ipv6Net, u32>::new();
        let addr = |next: &mut dyn FnMut() -> u64| {
            // Addresses in 2001:db8::/32, mostly in its first /48s, so that blocks nest.
            let hi = (0x2001_0db8_u128 << 96) | (u128::from(next() % 4) << 80);
            hi | u128::from(next()) << 16 | u128::from(next() as u16)
        };
        for pos in 0..2000u32 {
            let len = 24 + (next() % 105) as u8;
            let net = Ipv6Net::new(Ipv6Addr::from(addr(&mut next)), len).unwrap();
            map.insert(net.trunc(), pos);
        }
        map.insert("::/0".parse().unwrap(), 5000);
        let blocks = Blocks::build(
            map.iter()
                .map(|(n, &v)| (u128::from(n.network()), n.prefix_len(), v))
                .collect(),
        );
        assert!(
            !blocks.index.is_empty(),
            "the indexed search is the one tested"
        );
        let mut probes: Vec<u128> = (0..10_000).map(|_| addr(&mut next)).collect();
        for (n, _) in map.iter() {
            let (first, last) = (u128::from(n.network()), u128::from(n.broadcast()));
            probes.extend([first, last, first.wrapping_sub(1), last.wrapping_add(1)]);
        }
        for addr in probes {
            let host = Ipv6Net::from(Ipv6Addr::from(addr));
            let mut got = Vec::new();
            blocks.covering(addr, &mut |v| got.push(v));
            let want: Vec<u32> = map.cover_values(&host).copied().collect();
            assert_eq!(got, want, "{host}");
        }
    }

    #[test]
    fn no_blocks_cover_nothing() {
        let blocks = Blocks::<u32>::default();
        assert!(blocks.is_empty());
        let mut got = Vec::new();
        blocks.covering(7, &mut |v| got.push(v));
        assert!(got.is_empty());
    }
}
