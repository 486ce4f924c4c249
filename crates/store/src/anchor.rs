//! The anchor: signed chain heads kept outside the database.
//!
//! A signed head proves that the chain ended at that row when it was signed; it cannot prove that the database
//! is not an older copy put back whole, head included, or that rows were not cut together with a head replayed
//! from earlier. So the gateway also appends the signed head, from time to time and at shutdown, to a file the
//! operator keeps apart from the database (another disk, another host's log shipping, a WORM store).
//! `audit verify` then fails when the database is behind the newest entry, or when a row differs from what an
//! entry recorded.
//!
//! One JSON object per line: `{"v":1,"chain":"main","seq":N,"hash":"hex","at":ms,"mac":"hex"}`, one line per
//! chain each time (a store with several chains, one per gateway process, has its heads anchored together), the
//! `mac` being the head's signature ([`crate::chain::AuditKeys`], kind `Head`). The file is created 0600 and only
//! ever appended to; each entry is flushed to disk before the call returns. A last line without its newline (a
//! crash in the middle of a write) is ignored; any other line that does not parse counts as a forged entry.

use crate::chain::{AuditKeys, LinkKind, chain_name, chain_of};
use crate::model::ChainLink;
use std::io::Write;
use std::path::Path;

/// One entry: a signed head of `chain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorEntry {
    pub chain: String,
    pub link: ChainLink,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Line {
    v: u8,
    chain: String,
    seq: i64,
    hash: String,
    at: i64,
    mac: String,
}

/// Every entry of the file at `path`; `Ok(None)` when there is no such file.
pub fn read(path: &Path) -> std::io::Result<Option<Vec<AnchorEntry>>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let complete = match text.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    };
    let entries = complete
        .lines()
        .map(|l| {
            // An entry that does not parse keeps its place, with no signature: it fails as a forged one.
            parse(l).unwrap_or_else(|| AnchorEntry {
                chain: String::new(),
                link: ChainLink::default(),
            })
        })
        .collect();
    Ok(Some(entries))
}

fn parse(line: &str) -> Option<AnchorEntry> {
    let l: Line = serde_json::from_str(line).ok()?;
    if l.v != 1 {
        return None;
    }
    Some(AnchorEntry {
        chain: l.chain,
        link: ChainLink {
            seq: l.seq,
            hash: hex::decode(l.hash).ok()?,
            at_ms: l.at,
            mac: Some(hex::decode(l.mac).ok()?),
        },
    })
}

/// Append a signed head to the file at `path` (created 0600 if missing) and flush it to disk. The head must
/// carry a valid signature: an anchor only ever vouches for what the key signed.
pub fn append(path: &Path, keys: &AuditKeys, head: &ChainLink) -> crate::Result<()> {
    append_all(path, keys, std::slice::from_ref(head))
}

/// Append the signed heads of several chains (read together) in one write, flushed to disk once: an anchor
/// that binds them all at one moment.
pub fn append_all(path: &Path, keys: &AuditKeys, heads: &[ChainLink]) -> crate::Result<()> {
    let mut text = String::new();
    for head in heads {
        if !keys.verifies(LinkKind::Head, head) {
            return Err(crate::Error::Corrupt(
                "the chain head is not signed by this key; not anchoring it (run `wxrealname audit verify`)"
                    .into(),
            ));
        }
        let line = Line {
            v: 1,
            chain: chain_name(chain_of(head.seq)),
            seq: head.seq,
            hash: hex::encode(&head.hash),
            at: head.at_ms,
            mac: hex::encode(head.mac.as_deref().unwrap_or_default()),
        };
        text.push_str(
            &serde_json::to_string(&line).map_err(|e| crate::Error::Corrupt(e.to_string()))?,
        );
        text.push('\n');
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    // One write of a few short lines: with O_APPEND, several writers (processes on one host) never interleave.
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_torn_or_garbled_lines_are_handled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.anchor");
        assert_eq!(read(&path).unwrap(), None);
        let keys = AuditKeys::new([3; 32]);
        let head = keys.signed(
            LinkKind::Head,
            ChainLink {
                seq: 7,
                hash: vec![1; 32],
                at_ms: 99,
                mac: None,
            },
        );
        append(&path, &keys, &head).unwrap();
        assert!(
            append(&path, &AuditKeys::new([4; 32]), &head).is_err(),
            "only what the key signed is anchored"
        );
        let got = read(&path).unwrap().unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].link, head);
        assert_eq!(got[0].chain, crate::chain::MAIN_CHAIN);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"{\"v\":1,\"chain\":\"ma").unwrap();
        assert_eq!(
            read(&path).unwrap().unwrap().len(),
            1,
            "a torn last line is ignored"
        );
        f.write_all(b"\nnot json\n").unwrap();
        let got = read(&path).unwrap().unwrap();
        assert_eq!(got.len(), 3);
        assert!(
            !keys.verifies(LinkKind::Head, &got[2].link),
            "garbage never verifies"
        );
    }
}
