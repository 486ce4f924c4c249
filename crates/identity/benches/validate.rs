//! ID-number and name validation throughput, ours next to the `idcard` crate on the same inputs.
//!
//! `cargo bench -p identity --bench validate`; the figure to watch is elements/s for `validate_cred_id_on`
//! (target: 20 million per second per core).

use chrono::NaiveDate;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use identity::{CredId, RealName, check_char, validate_cred_id_on};
use std::hint::black_box;

const PROVINCES: [&str; 8] = ["11", "31", "44", "51", "65", "71", "81", "83"];

/// A small deterministic generator, so every run measures the same inputs.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

fn valid_numbers(rng: &mut XorShift, n: usize) -> Vec<String> {
    let start = NaiveDate::from_ymd_opt(1930, 1, 1).unwrap();
    (0..n)
        .map(|_| {
            let province = PROVINCES[rng.next(PROVINCES.len() as u64) as usize];
            let birth = start + chrono::Days::new(rng.next(30_000));
            let body = format!(
                "{province}{:04}{}{:03}",
                rng.next(10_000),
                birth.format("%Y%m%d"),
                rng.next(1000)
            );
            let first17: [u8; 17] = body.as_bytes().try_into().unwrap();
            format!("{body}{}", char::from(check_char(&first17)))
        })
        .collect()
}

/// Each valid number broken one way: check character, date, province, length, charset.
fn invalid_numbers(valid: &[String]) -> Vec<String> {
    valid
        .iter()
        .enumerate()
        .map(|(i, v)| match i % 5 {
            0 => format!("{}{}", &v[..17], if v.ends_with('0') { '1' } else { '0' }),
            1 => format!("{}1399{}", &v[..10], &v[14..]),
            2 => format!("99{}", &v[2..]),
            3 => v[..17].to_owned(),
            _ => format!("{}A{}", &v[..9], &v[10..]),
        })
        .collect()
}

fn full_width(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_digit() {
                char::from_u32(c as u32 + 0xFF10 - 0x30).unwrap()
            } else {
                'Ｘ'
            }
        })
        .collect()
}

fn cred_id(c: &mut Criterion) {
    let today = NaiveDate::from_ymd_opt(2024, 6, 15).unwrap();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let valid = valid_numbers(&mut rng, 1024);
    let invalid = invalid_numbers(&valid);
    let wide: Vec<String> = valid.iter().map(|v| full_width(v)).collect();

    let mut group = c.benchmark_group("cred_id");
    for (set, inputs) in [("valid", &valid), ("invalid", &invalid)] {
        group.throughput(Throughput::Elements(inputs.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("validate_cred_id_on", set),
            inputs,
            |b, inputs| {
                b.iter(|| {
                    inputs
                        .iter()
                        .filter(|s| validate_cred_id_on(black_box(s), today).is_ok())
                        .count()
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("CredId::parse_on", set),
            inputs,
            |b, inputs| {
                b.iter(|| {
                    inputs
                        .iter()
                        .filter(|s| CredId::parse_on(black_box(s), today).is_ok())
                        .count()
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("idcard::validate", set),
            inputs,
            |b, inputs| {
                b.iter(|| {
                    inputs
                        .iter()
                        .filter(|s| idcard::validate(black_box(s)))
                        .count()
                })
            },
        );
    }
    group.throughput(Throughput::Elements(wide.len() as u64));
    group.bench_with_input(
        BenchmarkId::new("validate_cred_id_on", "full_width"),
        &wide,
        |b, inputs| {
            b.iter(|| {
                inputs
                    .iter()
                    .filter(|s| validate_cred_id_on(black_box(s), today).is_ok())
                    .count()
            })
        },
    );
    group.finish();
}

fn real_name(c: &mut Criterion) {
    let valid = [
        "张三",
        "欧阳娜娜",
        "阿依古丽·买买提",
        "王〇",
        "𠮷田",
        "李小龙",
        "司马相如",
        "爱新觉罗・溥仪",
    ];
    let invalid = ["张3", "Zhang San", "·张三", "张··三", "张 三", "张😀", ""];
    let mut group = c.benchmark_group("real_name");
    for (set, inputs) in [("valid", &valid[..]), ("invalid", &invalid[..])] {
        group.throughput(Throughput::Elements(inputs.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("RealName::parse", set),
            inputs,
            |b, inputs| {
                b.iter(|| {
                    inputs
                        .iter()
                        .filter(|s| RealName::parse(black_box(s)).is_ok())
                        .count()
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, cred_id, real_name);
criterion_main!(benches);
