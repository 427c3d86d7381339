//! The bare argon2id limit on this machine: one hash's time, and hashes per second with one
//! thread per core, with the default (OWASP) parameters. Sign-in throughput is judged against it.
//!
//! `cargo run --release --example argon2_limit`

// A benchmark: it measures real time (clippy.toml forbids that in the server).
#![allow(clippy::disallowed_methods)]

use std::time::Instant;

use argon2::{Algorithm, Argon2, Block, Params, Version};

fn main() {
    let params = Params::new(19_456, 2, 1, None).expect("params");
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut memory = vec![Block::default(); params.block_count()];
    let mut out = [0u8; 32];
    let runs = 40;
    let mut times = Vec::with_capacity(runs);
    for i in 0..runs {
        let t = Instant::now();
        argon
            .hash_password_into_with_memory(
                format!("password-{i}").as_bytes(),
                b"somesaltsomesalt",
                &mut out,
                &mut memory,
            )
            .expect("hash");
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let one = times[runs / 2];
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "one hash (median of {runs}): {one:.1} ms; cores: {cores}; bare limit: {:.1} hashes/s",
        cores as f64 * 1000.0 / one
    );

    let per_thread = 30;
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..cores {
            s.spawn(|| {
                let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
                let mut memory = vec![Block::default(); params.block_count()];
                let mut out = [0u8; 32];
                for i in 0..per_thread {
                    argon
                        .hash_password_into_with_memory(
                            format!("p{i}").as_bytes(),
                            b"somesaltsomesalt",
                            &mut out,
                            &mut memory,
                        )
                        .expect("hash");
                }
            });
        }
    });
    let secs = t.elapsed().as_secs_f64();
    println!("measured with {cores} threads: {:.1} hashes/s", (cores * per_thread) as f64 / secs);
}
