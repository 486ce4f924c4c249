//! Row types as the databases return them, and their conversion into the model. Both schemas use the same
//! column names and types that decode to the same Rust types, so one set of structs serves every SQL backend:
//! `sqlx::FromRow` builds them for PostgreSQL, `from_sqlite` for SQLite (rusqlite), by column name.

use crate::Error;
use crate::model::*;

#[cfg_attr(feature = "postgres", derive(sqlx::FromRow))]
pub(crate) struct KeyRow {
    id: String,
    name: String,
    key_hash: Vec<u8>,
    apps: String,
    scopes: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl KeyRow {
    #[cfg(feature = "sqlite")]
    pub(crate) fn from_sqlite(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get("id")?,
            name: r.get("name")?,
            key_hash: r.get("key_hash")?,
            apps: r.get("apps")?,
            scopes: r.get("scopes")?,
            created_at: r.get("created_at")?,
            revoked_at: r.get("revoked_at")?,
        })
    }
}

impl TryFrom<KeyRow> for ApiKeyRecord {
    type Error = Error;
    fn try_from(r: KeyRow) -> Result<Self, Error> {
        let apps = serde_json::from_str(&r.apps)
            .map_err(|_| Error::Corrupt(format!("api key {}: apps", r.id)))?;
        let scopes = serde_json::from_str(&r.scopes)
            .map_err(|_| Error::Corrupt(format!("api key {}: scopes", r.id)))?;
        Ok(Self {
            id: r.id,
            name: r.name,
            key_hash: r.key_hash,
            apps,
            scopes,
            created_at_ms: r.created_at,
            revoked_at_ms: r.revoked_at,
        })
    }
}

#[cfg_attr(feature = "postgres", derive(sqlx::FromRow))]
pub(crate) struct AuditRow {
    seq: i64,
    id: String,
    at: i64,
    key_id: String,
    appid: String,
    openid: String,
    masked_name: String,
    masked_cred_id: String,
    blind_cred: Vec<u8>,
    blind_pair: Vec<u8>,
    key_version: i32,
    purpose: Option<String>,
    outcome: Option<String>,
    error_code: Option<String>,
    errcode: Option<i64>,
    verify_openid: String,
    verify_real_name: Option<String>,
    minor: bool,
    latency_ms: i64,
    kind: String,
    provider: Option<String>,
    billed: Option<bool>,
    consent_ref: Option<String>,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

impl AuditRow {
    #[cfg(feature = "sqlite")]
    pub(crate) fn from_sqlite(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            seq: r.get("seq")?,
            id: r.get("id")?,
            at: r.get("at")?,
            key_id: r.get("key_id")?,
            appid: r.get("appid")?,
            openid: r.get("openid")?,
            masked_name: r.get("masked_name")?,
            masked_cred_id: r.get("masked_cred_id")?,
            blind_cred: r.get("blind_cred")?,
            blind_pair: r.get("blind_pair")?,
            key_version: r.get("key_version")?,
            purpose: r.get("purpose")?,
            outcome: r.get("outcome")?,
            error_code: r.get("error_code")?,
            errcode: r.get("errcode")?,
            verify_openid: r.get("verify_openid")?,
            verify_real_name: r.get("verify_real_name")?,
            minor: r.get("minor")?,
            latency_ms: r.get("latency_ms")?,
            kind: r.get("kind")?,
            provider: r.get("provider")?,
            billed: r.get("billed")?,
            consent_ref: r.get("consent_ref")?,
            prev_hash: r.get("prev_hash")?,
            hash: r.get("hash")?,
        })
    }
}

impl From<AuditRow> for AuditRecord {
    fn from(r: AuditRow) -> Self {
        let verify_openid = r
            .verify_openid
            .split(';')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        Self {
            seq: r.seq,
            entry: NewAuditEntry {
                id: r.id,
                at_ms: r.at,
                key_id: r.key_id,
                appid: r.appid,
                openid: r.openid,
                masked_name: r.masked_name,
                masked_cred_id: r.masked_cred_id,
                blind_cred: r.blind_cred,
                blind_pair: r.blind_pair,
                key_version: r.key_version,
                purpose: r.purpose,
                outcome: r.outcome,
                error_code: r.error_code,
                errcode: r.errcode,
                verify_openid,
                verify_real_name: r.verify_real_name,
                minor: r.minor,
                latency_ms: r.latency_ms,
                kind: r.kind,
                provider: r.provider,
                billed: r.billed,
                consent_ref: r.consent_ref,
            },
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

#[cfg_attr(feature = "postgres", derive(sqlx::FromRow))]
pub(crate) struct IdentityRow {
    appid: String,
    openid: String,
    verification_id: String,
    verified_at: i64,
    masked_name: String,
    masked_cred_id: String,
    blind_cred: Vec<u8>,
    blind_pair: Vec<u8>,
    key_version: i32,
}

impl IdentityRow {
    #[cfg(feature = "sqlite")]
    pub(crate) fn from_sqlite(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            appid: r.get("appid")?,
            openid: r.get("openid")?,
            verification_id: r.get("verification_id")?,
            verified_at: r.get("verified_at")?,
            masked_name: r.get("masked_name")?,
            masked_cred_id: r.get("masked_cred_id")?,
            blind_cred: r.get("blind_cred")?,
            blind_pair: r.get("blind_pair")?,
            key_version: r.get("key_version")?,
        })
    }
}

impl From<IdentityRow> for IdentityRecord {
    fn from(r: IdentityRow) -> Self {
        Self {
            appid: r.appid,
            openid: r.openid,
            verification_id: r.verification_id,
            verified_at_ms: r.verified_at,
            masked_name: r.masked_name,
            masked_cred_id: r.masked_cred_id,
            blind_cred: r.blind_cred,
            blind_pair: r.blind_pair,
            key_version: r.key_version,
        }
    }
}
