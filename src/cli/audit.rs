//! `wxrealname audit verify|export|purge`.

use super::{ConfigArg, EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use i18n::cli as t;
use std::io::Write;
use store::OpenMode;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Check the hash chain, its signed head and checkpoint, and the anchor file; name the first failure. Exit 1
    /// when anything fails.
    Verify {
        #[command(flatten)]
        config: ConfigArg,
        /// The anchor to hold the database against [default: audit.anchor_file]; a copy from another host works.
        #[arg(long)]
        anchor: Option<std::path::PathBuf>,
    },
    /// Append the current signed chain head to an anchor file (the gateway does this by itself to
    /// audit.anchor_file; this takes one by hand, e.g. before a backup).
    Anchor {
        #[command(flatten)]
        config: ConfigArg,
        /// The anchor file to append to (created 0600); not inside data_dir.
        #[arg(long)]
        out: std::path::PathBuf,
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
        /// CSV without the UTF-8 byte-order mark it starts with by default (the BOM makes Excel read the file as
        /// UTF-8, so masked names such as 张* show as written).
        #[arg(long)]
        no_bom: bool,
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
/// A row's `seq` as the reader's language says it: the position, and for a chain other than the first, which
/// chain (see `store::chain::Position`).
fn position(seq: i64) -> String {
    match store::chain::chain_of(seq) {
        1 => seq.to_string(),
        n => t::AUDIT_POSITION_IN_CHAIN
            .cli_fill(&[("pos", &(seq - store::chain::base(n))), ("chain", &n)]),
    }
}

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

/// A text cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, or a tab or carriage return that hides
/// one) gets a leading `'`, so it opens as text. Only text columns: a number such as errcode `-1` stays a number.
fn csv_text(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// Excel (Chinese Windows above all) reads a CSV file without it in the system's code page (GBK), garbling every
/// Chinese character; with it, as UTF-8. Other CSV readers skip it or can be told to (`--no-bom` omits it).
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

const CSV_HEADER: &str = "seq,id,at,key_id,appid,openid,masked_name,masked_cred_id,purpose,outcome,error_code,errcode,verify_openid,verify_real_name,minor,latency_ms,blind_cred,blind_pair,key_version,prev_hash,hash,kind,provider,billed,consent_ref";

fn csv_row(r: &store::AuditRecord) -> String {
    let e = &r.entry;
    let text = |s: &str| csv_text(s);
    let opt = |s: &Option<String>| csv_text(s.as_deref().unwrap_or_default());
    [
        r.seq.to_string(),
        text(&e.id),
        gateway::state::rfc3339(e.at_ms),
        text(&e.key_id),
        text(&e.appid),
        text(&e.openid),
        text(&e.masked_name),
        text(&e.masked_cred_id),
        opt(&e.purpose),
        opt(&e.outcome),
        opt(&e.error_code),
        e.errcode.map(|c| c.to_string()).unwrap_or_default(),
        text(&e.verify_openid.join(";")),
        opt(&e.verify_real_name),
        e.minor.to_string(),
        e.latency_ms.to_string(),
        hex::encode(&e.blind_cred),
        hex::encode(&e.blind_pair),
        e.key_version.to_string(),
        hex::encode(&r.prev_hash),
        hex::encode(&r.hash),
        text(&e.kind),
        opt(&e.provider),
        e.billed.map(|b| b.to_string()).unwrap_or_default(),
        opt(&e.consent_ref),
    ]
    .iter()
    .map(|f| csv_field(f))
    .collect::<Vec<_>>()
    .join(",")
}

pub async fn run(cmd: Command) -> anyhow::Result<u8> {
    let now = gateway::state::to_ms(std::time::SystemTime::now());
    match cmd {
        Command::Verify { config, anchor } => {
            let cfg = config.load_for_store()?;
            let (store, keys) = super::keys::open_with_keys(&cfg, OpenMode::ReadOnly).await?;
            let anchor_path = anchor.or_else(|| cfg.audit.anchor_file.clone());
            let entries = match &anchor_path {
                Some(p) => store::anchor::read(p).map_err(|e| {
                    anyhow::anyhow!(
                        "{}",
                        t::AUDIT_ANCHOR_UNREADABLE
                            .cli_fill(&[("path", &p.display()), ("error", &e)])
                    )
                })?,
                None => None,
            };
            if entries.is_none() {
                let at = anchor_path
                    .map(|p| t::AUDIT_ANCHOR_AT.cli_fill(&[("path", &p.display())]))
                    .unwrap_or_default();
                eprintln!(
                    "{}{}",
                    t::NOTE_PREFIX.cli(),
                    t::AUDIT_NO_ANCHOR.cli_fill(&[("at", &at)])
                );
            }
            let entries = entries.unwrap_or_default();
            match store::chain::verify_store(store.as_ref(), &keys, &entries).await? {
                Ok(r) => {
                    let from = if r.from_checkpoint {
                        t::AUDIT_FROM_CHECKPOINT.cli()
                    } else {
                        ""
                    };
                    let anchored = match r.anchored_seq {
                        Some(seq) => t::AUDIT_ANCHORED
                            .cli_fill(&[("entries", &r.anchor_entries), ("seq", &position(seq))]),
                        None => String::new(),
                    };
                    let chains = if r.chains > 1 {
                        t::AUDIT_CHAINS.cli_fill(&[("chains", &r.chains)])
                    } else {
                        String::new()
                    };
                    println!(
                        "{}{chains}{from}{anchored}",
                        t::AUDIT_CHAIN_OK.cli_fill(&[("rows", &r.rows)])
                    );
                    Ok(EXIT_OK)
                }
                Err(e) => {
                    println!(
                        "{}",
                        t::AUDIT_CHAIN_BROKEN
                            .cli_fill(&[("seq", &position(e.seq())), ("error", &e)])
                    );
                    Ok(EXIT_FAILURE)
                }
            }
        }
        Command::Export {
            config,
            format,
            since,
            no_bom,
        } => {
            if !matches!(format.as_str(), "jsonl" | "csv") {
                super::error(t::AUDIT_BAD_FORMAT.cli());
                return Ok(EXIT_USAGE);
            }
            let since_ms = match since.as_deref().map(|s| parse_since(s, now)) {
                Some(None) => {
                    super::error(t::AUDIT_BAD_SINCE.cli());
                    return Ok(EXIT_USAGE);
                }
                Some(Some(ms)) => Some(ms),
                None => None,
            };
            let store = super::keys::open(&config.load_for_store()?, OpenMode::ReadOnly).await?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            if format == "csv" {
                if !no_bom {
                    out.write_all(UTF8_BOM)?;
                }
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
        Command::Anchor { config, out } => {
            let cfg = config.load_for_store()?;
            if gateway::pii::is_inside(&out, &cfg.data_dir) {
                super::error(t::AUDIT_ANCHOR_INSIDE_DATA_DIR.cli_fill(&[("path", &out.display())]));
                return Ok(EXIT_USAGE);
            }
            let (store, keys) = super::keys::open_with_keys(&cfg, OpenMode::ReadOnly).await?;
            let mut heads = Vec::new();
            for state in store.chain_states().await? {
                let Some(head) = state.head else {
                    println!("{}", t::AUDIT_HEAD_MISSING.cli());
                    return Ok(EXIT_FAILURE);
                };
                heads.push(head);
            }
            if let Err(e) = store::anchor::append_all(&out, &keys, &heads) {
                println!("{}", t::AUDIT_ANCHOR_FAILED.cli_fill(&[("error", &e)]));
                return Ok(EXIT_FAILURE);
            }
            let seqs = heads
                .iter()
                .map(|h| position(h.seq))
                .collect::<Vec<_>>()
                .join(", ");
            println!(
                "{}",
                t::AUDIT_ANCHORED_TO.cli_fill(&[("seq", &seqs), ("path", &out.display())])
            );
            Ok(EXIT_OK)
        }
        Command::Purge { config, older_than } => {
            let Some(age) = parse_age(&older_than) else {
                super::error(t::AUDIT_BAD_OLDER_THAN.cli());
                return Ok(EXIT_USAGE);
            };
            let store = super::keys::open(&config.load_for_store()?, OpenMode::Existing).await?;
            let report = store.purge_audit(now - age, now).await?;
            println!(
                "{}{}",
                t::AUDIT_PURGED.cli_fill(&[
                    ("rows", &report.rows_deleted),
                    ("codes", &report.codes_forgotten)
                ]),
                report
                    .checkpoint_seq
                    .map(|s| t::AUDIT_PURGE_CHECKPOINT.cli_fill(&[("seq", &s)]))
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

    #[test]
    fn csv_text_cells_never_start_a_formula() {
        for bad in [
            "=HYPERLINK(\"http://x\")",
            "+1",
            "-2+3",
            "@SUM(A1)",
            "\t=1",
            "\r=1",
        ] {
            let cell = csv_text(bad);
            assert!(cell.starts_with('\''), "{bad:?} -> {cell:?}");
            assert_eq!(&cell[1..], bad, "the value itself is kept");
        }
        assert_eq!(csv_text("demo"), "demo");
        assert_eq!(csv_text("a=b"), "a=b", "only the first character counts");
    }

    #[test]
    fn csv_rows_neutralise_text_but_keep_numbers() {
        let r = store::AuditRecord {
            seq: 1,
            entry: store::NewAuditEntry {
                id: "v1".into(),
                at_ms: 0,
                key_id: "k".into(),
                appid: "wx1".into(),
                openid: "o1".into(),
                masked_name: "张*".into(),
                masked_cred_id: "110***********002X".into(),
                blind_cred: vec![0],
                blind_pair: vec![0],
                key_version: 1,
                purpose: Some("=cmd|' /C calc'!A0".into()),
                outcome: None,
                error_code: Some("upstream_error".into()),
                errcode: Some(-1),
                verify_openid: vec![],
                verify_real_name: None,
                minor: false,
                latency_ms: 5,
                kind: store::KIND_VERIFICATION.into(),
                provider: None,
                billed: None,
                consent_ref: None,
            },
            prev_hash: vec![0],
            hash: vec![1],
        };
        let row = csv_row(&r);
        let cells: Vec<&str> = row.split(',').collect();
        assert_eq!(cells[8], "'=cmd|' /C calc'!A0", "{row}");
        assert_eq!(cells[11], "-1", "errcode is a number: {row}");
    }
}
