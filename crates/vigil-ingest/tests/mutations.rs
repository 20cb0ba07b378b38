//! Randomly damaged copies of real files (bytes overwritten at random places) decode without
//! a panic escaping, and every skipped record is reported.

mod common;

use common::decode_mem;
use vigil_core::corpus::corpus_path;

/// xorshift64: deterministic noise without a dependency.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn mutate(bytes: &[u8], seed: u64, flips: usize) -> Vec<u8> {
    let mut noise = Noise(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut out = bytes.to_vec();
    for _ in 0..flips {
        let at = (noise.next() as usize) % out.len();
        out[at] = noise.next() as u8;
    }
    out
}

#[test]
fn damaged_evtx_copies() {
    let Some(path) = corpus_path(
        "evtx-attack-samples/AutomatedTestingTools/PanacheSysmon_vs_AtomicRedTeam01.evtx",
    ) else {
        return;
    };
    let original = std::fs::read(path).unwrap();
    let rounds: u64 = std::env::var("VIGIL_MUTATION_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(24);
    for seed in 0..rounds {
        // Keep the file magic so the EVTX decoder, not the sniffer, meets the damage.
        let mut damaged = mutate(&original, seed, 20 + (seed as usize % 5) * 40);
        damaged[..8].copy_from_slice(b"ElfFile\0");
        let d = decode_mem("damaged.evtx", &damaged);
        assert_eq!(d.stats.errors as usize, d.errors.len());
        assert!(
            d.stats.events <= 565 + 50,
            "seed {seed}: {}",
            d.stats.events
        );
        assert!(d.errors.iter().all(|e| e.file.as_ref() == "damaged.evtx"));
    }
}

#[test]
fn damaged_ndjson_copies() {
    let Some(path) = corpus_path(
        "security-datasets/windows/defense_evasion/host/cmd_bitsadmin_download_psh_script_2020-10-2302365189.json",
    ) else {
        return;
    };
    let original = std::fs::read(path).unwrap();
    for seed in 0..24 {
        let mut damaged = mutate(&original, seed, 30);
        damaged[0] = b'{';
        let d = decode_mem("damaged.json", &damaged);
        assert_eq!(d.stats.errors as usize, d.errors.len());
        // Every line is accounted for: decoded, or part of a reported error.
        assert!(
            d.stats.events + d.stats.errors >= 424 - 30,
            "seed {seed}: {:?}",
            d.stats
        );
        assert!(
            d.stats.errors >= 1 && d.stats.errors <= 30,
            "seed {seed}: {:?}",
            d.stats
        );
        assert!(
            d.errors
                .iter()
                .all(|e| e.offset.is_some() && e.record.is_some())
        );
    }
}
