//! `wxrealname audit verify|export|purge`.

use super::{ConfigArg, EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use std::io::Write;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Check the hash chain; name the first bad row. Exit 1 when it is broken.
    Verify {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Write audit rows (masked values and blind indexes only) to standard output.
    Export {
        #[command(flatten)]
        config: ConfigArg,
        /// jsonl or csv.
        #[arg(long, default_value = "jsonl")]
        format: String,
        /// Only rows at or after this time: RFC 3339 (2026-01-31T00:00:00Z), a date (2026-01-31), or an age (7d, 12h).
        #[arg(long)]
        since: Option<String>,
    },
    /// Delete rows older than an age (PIPL Art. 19 retention), keeping the rest verifiable.
    Purge {
        #[command(flatten)]
        config: ConfigArg,
        /// An age: 180d, 12h, 30m.
        #[arg(long)]
        older_than: String,
    },
}

/// `180d`, `12h`, `30m`, `45s` -> milliseconds.
fn parse_age(s: &str) -> Option<i64> {
    let s = s.trim();
    let unit = s.chars().last()?;
    let n: i64 = s[..s.len() - unit.len_utf8()]
        .parse()
        .ok()
        .filter(|n| *n >= 0)?;
    let ms = match unit {
        'd' => 86_400_000,
        'h' => 3_600_000,
        'm' => 60_000,
        's' => 1000,
        _ => return None,
    };
    n.checked_mul(ms)
}

fn parse_since(s: &str, now_ms: i64) -> Option<i64> {
    if let Some(age) = parse_age(s) {
        return Some(now_ms - age);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

const CSV_HEADER: &str = "seq,id,at,key_id,appid,openid,masked_name,masked_cred_id,purpose,outcome,error_code,errcode,verify_openid,verify_real_name,minor,latency_ms,blind_cred,blind_pair,key_version,prev_hash,hash";

fn csv_row(r: &store::AuditRecord) -> String {
    let e = &r.entry;
    [
        r.seq.to_string(),
        e.id.clone(),
        gateway::state::rfc3339(e.at_ms),
        e.key_id.clone(),
        e.appid.clone(),
        e.openid.clone(),
        e.masked_name.clone(),
        e.masked_cred_id.clone(),
        e.purpose.clone().unwrap_or_default(),
        e.outcome.clone().unwrap_or_default(),
        e.error_code.clone().unwrap_or_default(),
        e.errcode.map(|c| c.to_string()).unwrap_or_default(),
        e.verify_openid.join(";"),
        e.verify_real_name.clone().unwrap_or_default(),
        e.minor.to_string(),
        e.latency_ms.to_string(),
        hex::encode(&e.blind_cred),
        hex::encode(&e.blind_pair),
        e.key_version.to_string(),
        hex::encode(&r.prev_hash),
        hex::encode(&r.hash),
    ]
    .iter()
    .map(|f| csv_field(f))
    .collect::<Vec<_>>()
    .join(",")
}

pub async fn run(cmd: Command) -> anyhow::Result<u8> {
    let now = gateway::state::to_ms(std::time::SystemTime::now());
    match cmd {
        Command::Verify { config } => {
            let store = super::keys::open(&config.load()?).await?;
            match store::chain::verify_store(store.as_ref()).await? {
                Ok(r) => {
                    let from = if r.from_checkpoint {
                        " (from the purge checkpoint)"
                    } else {
                        ""
                    };
                    println!("audit chain ok: {} rows verified{from}", r.rows);
                    Ok(EXIT_OK)
                }
                Err(e) => {
                    println!("audit chain BROKEN at row {}: {e}", e.seq());
                    Ok(EXIT_FAILURE)
                }
            }
        }
        Command::Export {
            config,
            format,
            since,
        } => {
            if !matches!(format.as_str(), "jsonl" | "csv") {
                eprintln!("error: --format must be jsonl or csv");
                return Ok(EXIT_USAGE);
            }
            let since_ms = match since.as_deref().map(|s| parse_since(s, now)) {
                Some(None) => {
                    eprintln!("error: --since must be RFC 3339, YYYY-MM-DD, or an age like 7d");
                    return Ok(EXIT_USAGE);
                }
                Some(Some(ms)) => Some(ms),
                None => None,
            };
            let store = super::keys::open(&config.load()?).await?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            if format == "csv" {
                writeln!(out, "{CSV_HEADER}")?;
            }
            let mut after = 0;
            loop {
                let page = store.audit_page(after, since_ms, 1000).await?;
                for r in &page {
                    if format == "csv" {
                        writeln!(out, "{}", csv_row(r))?;
                    } else {
                        writeln!(out, "{}", serde_json::to_string(r)?)?;
                    }
                }
                match page.last() {
                    Some(last) if page.len() == 1000 => after = last.seq,
                    _ => break,
                }
            }
            out.flush()?;
            Ok(EXIT_OK)
        }
        Command::Purge { config, older_than } => {
            let Some(age) = parse_age(&older_than) else {
                eprintln!("error: --older-than must be an age like 180d, 12h or 30m");
                return Ok(EXIT_USAGE);
            };
            let store = super::keys::open(&config.load()?).await?;
            let report = store.purge_audit(now - age, now).await?;
            println!(
                "purged {} audit rows and {} replay-guard entries{}",
                report.rows_deleted,
                report.codes_forgotten,
                report
                    .checkpoint_seq
                    .map(|s| format!("; the chain now starts after row {s}"))
                    .unwrap_or_default()
            );
            Ok(EXIT_OK)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_dates() {
        assert_eq!(parse_age("180d"), Some(180 * 86_400_000));
        assert_eq!(parse_age("12h"), Some(12 * 3_600_000));
        assert_eq!(parse_age("d"), None);
        assert_eq!(parse_age("-1d"), None);
        assert_eq!(parse_age("5y"), None);
        assert_eq!(parse_since("2026-01-01", 0), Some(1_767_225_600_000));
        assert_eq!(
            parse_since("2026-01-01T08:00:00+08:00", 0),
            Some(1_767_225_600_000)
        );
        assert_eq!(parse_since("1d", 86_400_000), Some(0));
        assert_eq!(parse_since("soon", 0), None);
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
