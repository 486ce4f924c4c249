//! `wxrealname demo`: the WeChat sandbox and the gateway in one process, with the demo app, its users and a
//! fresh API key, and curl commands for every outcome.

use super::EXIT_OK;
use gateway::{Application, Config};
use sandbox::{Sandbox, SandboxConfig};
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where the gateway keeps its database and generated keys.
    #[arg(long, default_value = "./data/demo")]
    data_dir: PathBuf,
    /// The gateway's address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// The sandbox's address.
    #[arg(long, default_value = "127.0.0.1:9100")]
    sandbox_addr: String,
    /// Print the banner and exit once both servers answer (for scripts and tests).
    #[arg(long, hide = true)]
    exit_when_ready: bool,
}

pub async fn run(a: Args) -> anyhow::Result<u8> {
    super::init_tracing("text");
    let listener = tokio::net::TcpListener::bind(&a.sandbox_addr).await?;
    let sb = Sandbox::spawn(
        listener,
        SandboxConfig {
            seed_demo: true,
            ..SandboxConfig::default()
        },
    )
    .await?;
    let sandbox_url = sb.base_url();

    std::fs::create_dir_all(&a.data_dir)?;
    let admin_path = a.data_dir.join("admin.token");
    if !admin_path.exists() {
        gateway::pii::write_new_key(&admin_path)?;
    }
    let admin_token = std::fs::read_to_string(&admin_path)?.trim().to_owned();
    let cfg = Config {
        listen: a.listen.clone(),
        data_dir: a.data_dir.clone(),
        upstream_base_url: sandbox_url.clone(),
        admin_token: Some(admin_token.into()),
        apps: vec![gateway::config::App {
            appid: sandbox::demo::APPID.into(),
            secret: Some(sandbox::demo::SECRET.to_owned().into()),
            secret_env: None,
            token_kind: None,
        }],
        // A demo is clicked through many times; keep the per-user limit out of the way.
        limits: gateway::config::Limits {
            per_openid_per_day: 1000,
            ..Config::default().limits
        },
        ..Config::default()
    };
    let app = Application::build(cfg).await?;
    let gateway_url = format!("http://{}", app.local_addr());
    let (_, key) = super::keys::create(
        app.state().store.as_ref(),
        vec![sandbox::demo::APPID.into()],
        "demo".into(),
    )
    .await?;

    println!("{}", banner(&gateway_url, &sandbox_url, &key, &a.data_dir));
    if a.exit_when_ready {
        return Ok(EXIT_OK);
    }
    app.run_until_stopped().await?;
    sb.shutdown().await;
    Ok(EXIT_OK)
}

fn banner(gateway: &str, sandbox: &str, key: &str, data_dir: &std::path::Path) -> String {
    let appid = sandbox::demo::APPID;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "wxrealname demo: all names and ID numbers are fictional\n"
    );
    let _ = writeln!(
        s,
        "  gateway   {gateway}   (data in {})",
        data_dir.display()
    );
    let _ = writeln!(s, "  sandbox   {sandbox}   (WeChat, simulated)");
    let _ = writeln!(s, "  app       {appid}");
    let _ = writeln!(s, "  API key   {key}\n");
    let _ = writeln!(
        s,
        "Each check needs a fresh consent code (what WeChat hands the mini program after the user agrees)."
    );
    let _ = writeln!(s, "Copy a block into a shell:\n");
    let _ = writeln!(s, "export KEY={key}");
    for u in sandbox::demo::USERS {
        let _ = writeln!(s, "\n# {} ({}): expect \"{}\"", u.openid, u.note, u.outcome);
        let _ = writeln!(
            s,
            "CODE=$(curl -s -X POST {sandbox}/sandbox/consent -d '{{\"appid\":\"{appid}\",\"openid\":\"{}\"}}' | sed 's/.*\"code\":\"\\([^\"]*\\)\".*/\\1/')",
            u.openid
        );
        let _ = writeln!(
            s,
            "curl -s -X POST {gateway}/v1/verifications -H \"Authorization: Bearer $KEY\" -H 'Content-Type: application/json' \\\n  -d '{{\"openid\":\"{}\",\"real_name\":\"{}\",\"cred_id\":\"{}\",\"code\":\"'$CODE'\",\"purpose\":\"demo\"}}'",
            u.openid, u.submit_name, u.submit_cred_id
        );
    }
    let _ = writeln!(
        s,
        "\n# the same code again: 409 code_already_used, and WeChat is not called"
    );
    let _ = writeln!(
        s,
        "# the user's verified identity:  curl -s {gateway}/v1/identities/{appid}/{} -H \"Authorization: Bearer $KEY\"",
        sandbox::demo::USERS[0].openid
    );
    let _ = writeln!(
        s,
        "# audit trail: wxrealname audit verify  (with WXRN_DATA_DIR={})",
        data_dir.display()
    );
    let _ = writeln!(
        s,
        "# metrics: curl -s {gateway}/metrics    OpenAPI: curl -s {gateway}/openapi.json"
    );
    let _ = writeln!(s, "\nCtrl-C stops both.");
    s
}
