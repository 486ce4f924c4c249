//! `wxrealname keys create|list|revoke|init-master`.

use super::{ConfigArg, EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use anyhow::Context;
use i18n::cli as t;
use secrecy::ExposeSecret;
use std::sync::Arc;
use store::OpenMode;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create an API key bound to one or more apps (WeChat's check) and/or with the `idcheck` scope (the paid
    /// name + ID-number check). The key is printed once and stored only as a hash.
    Create {
        #[command(flatten)]
        config: ConfigArg,
        /// An appid this key may verify for (repeat for several).
        #[arg(long = "app", required_unless_present = "scopes")]
        apps: Vec<String>,
        /// A scope beyond the apps': `idcheck` (`POST /v1/idchecks`). A key may have apps and scopes.
        #[arg(long = "scope", value_parser = ["idcheck"])]
        scopes: Vec<String>,
        /// Who the key is for, e.g. "outpatient-backend".
        #[arg(long)]
        name: String,
        /// Print {"id", "key"} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List keys (never their secrets).
    List {
        #[command(flatten)]
        config: ConfigArg,
        /// Print the keys as a JSON array of {"id", "name", "apps", "created_at_ms", "revoked_at_ms"}.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id: its next request is refused.
    Revoke {
        #[command(flatten)]
        config: ConfigArg,
        /// The key's id: the part after `wxrn_` and before the next `_`, as `keys list` shows it.
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Create a new master key (blind indexes, audit-head signatures) in a new file, mode 0600. Keep it outside
    /// the data directory and back it up; refuses to overwrite an existing file.
    InitMaster {
        /// Where to write it, e.g. /etc/wxrealname/master.key.
        #[arg(long)]
        out: std::path::PathBuf,
    },
}

/// The configured store. Only `serve`, `demo` and `keys create` create one ([`OpenMode::Create`]); a command
/// that changes a store needs an existing one, and a command that only reads opens it read-only, so a wrong
/// `data_dir` or `database_url` fails (exit 1) instead of reporting on a new, empty store.
pub async fn open(cfg: &gateway::Config, mode: OpenMode) -> anyhow::Result<Arc<dyn store::Store>> {
    Ok(open_with_keys(cfg, mode).await?.0)
}

/// [`open`], and the master key's audit keys it was opened with (every command that opens the store needs the
/// master key: the store signs its chain's ends, and `audit verify` checks them).
pub async fn open_with_keys(
    cfg: &gateway::Config,
    mode: OpenMode,
) -> anyhow::Result<(Arc<dyn store::Store>, store::chain::AuditKeys)> {
    let keys = gateway::pii::Pii::load(&cfg.blind_index, &cfg.data_dir)?.audit_keys();
    if mode == OpenMode::Create {
        store::files::private_dir(&cfg.data_dir)
            .with_context(|| t::CANNOT_CREATE_DIR.cli_fill(&[("path", &cfg.data_dir.display())]))?;
    }
    match store::open_with(
        secrecy::ExposeSecret::expose_secret(&cfg.database_url()),
        mode,
        keys.clone(),
    )
    .await
    {
        Ok(s) => Ok((s, keys)),
        Err(e @ store::Error::NotFound(_)) => Err(anyhow::anyhow!(
            "{}",
            t::STORE_NOT_FOUND.cli_fill(&[("error", &e)])
        )),
        Err(e) => Err(anyhow::Error::new(e).context(t::CANNOT_OPEN_DATABASE.cli())),
    }
}

fn now_ms() -> i64 {
    gateway::state::to_ms(std::time::SystemTime::now())
}

/// Create a key and store its hash; returns (id, full key).
pub async fn create(
    store: &dyn store::Store,
    apps: Vec<String>,
    scopes: Vec<String>,
    name: String,
) -> anyhow::Result<(String, String)> {
    let key = gateway::keys::mint();
    store
        .insert_api_key(&store::ApiKeyRecord {
            id: key.id.clone(),
            name,
            key_hash: key.hash.clone(),
            apps,
            scopes,
            created_at_ms: now_ms(),
            revoked_at_ms: None,
        })
        .await?;
    Ok((key.id, key.full.expose_secret().to_owned()))
}

pub async fn run(cmd: Command) -> anyhow::Result<u8> {
    match cmd {
        Command::Create {
            config,
            apps,
            mut scopes,
            name,
            json,
        } => {
            scopes.sort();
            scopes.dedup();
            let cfg = config.load_for_store()?;
            for app in &apps {
                if !cfg.apps.iter().any(|a| &a.appid == app) {
                    super::error(t::KEYS_UNKNOWN_APP.cli_fill(&[("app", app)]));
                    return Ok(EXIT_USAGE);
                }
            }
            if name.trim().is_empty() {
                super::error(t::KEYS_EMPTY_NAME.cli());
                return Ok(EXIT_USAGE);
            }
            let store = open(&cfg, OpenMode::Create).await?;
            let (id, key) = create(store.as_ref(), apps, scopes, name).await?;
            if json {
                println!("{}", serde_json::json!({"id": id, "key": key}));
            } else {
                println!("id:  {id}\nkey: {key}\n\n{}", t::KEYS_CREATED.cli());
            }
            Ok(EXIT_OK)
        }
        Command::List { config, json } => {
            let store = open(&config.load_for_store()?, OpenMode::ReadOnly).await?;
            let keys = store.api_keys().await?;
            if json {
                println!("{}", serde_json::to_string(&keys)?);
            } else {
                println!(
                    "{:<14} {:<8} {:<24} {:<24} {:<10} apps",
                    "id", "state", "name", "created", "scopes"
                );
                for k in keys {
                    let state = if k.revoked_at_ms.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    let created = gateway::state::rfc3339(k.created_at_ms);
                    println!(
                        "{:<14} {:<8} {:<24} {:<24} {:<10} {}",
                        k.id,
                        state,
                        k.name,
                        created,
                        if k.scopes.is_empty() {
                            "-".to_owned()
                        } else {
                            k.scopes.join(",")
                        },
                        k.apps.join(",")
                    );
                }
            }
            Ok(EXIT_OK)
        }
        Command::InitMaster { out } => {
            if out.exists() {
                super::error(t::KEYS_MASTER_EXISTS.cli_fill(&[("path", &out.display())]));
                return Ok(EXIT_FAILURE);
            }
            gateway::pii::write_new_key(&out)?;
            println!(
                "{}",
                t::KEYS_MASTER_WRITTEN.cli_fill(&[("path", &out.display())])
            );
            Ok(EXIT_OK)
        }
        Command::Revoke { config, id } => {
            let store = open(&config.load_for_store()?, OpenMode::Existing).await?;
            if store.revoke_api_key(&id, now_ms()).await? {
                println!("{}", t::KEYS_REVOKED.cli_fill(&[("id", &id)]));
                Ok(EXIT_OK)
            } else {
                super::error(t::KEYS_NO_ACTIVE_KEY.cli_fill(&[("id", &id)]));
                Ok(EXIT_FAILURE)
            }
        }
    }
}
