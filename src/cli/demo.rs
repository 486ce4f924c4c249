//! `wxrealname demo`: the WeChat sandbox, the gateway and a demo web app (the business's mini program in a
//! browser, see `demo_web`) in one process, with the demo app, its users and a fresh API key, and curl commands
//! for every outcome.

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
    /// The demo web app's address (the mini program in a browser) [default: 127.0.0.1:8081, or a free port if
    /// that one is taken].
    #[arg(long)]
    web_addr: Option<String>,
    /// Print the banner and exit once both servers answer (for scripts and tests).
    #[arg(long, hide = true)]
    exit_when_ready: bool,
}

pub async fn run(a: Args) -> anyhow::Result<u8> {
    super::init_tracing("text");
    let listener = super::bind(&a.sandbox_addr, "--sandbox-addr").await?;
    let sb = Sandbox::spawn(
        listener,
        SandboxConfig {
            seed_demo: true,
            ..SandboxConfig::default()
        },
    )
    .await?;
    let sandbox_url = sb.base_url();

    store::files::private_dir(&a.data_dir)?;
    let master_key = demo_key(&a.data_dir)?;
    let admin_path = a.data_dir.join("admin.token");
    if !admin_path.exists() {
        gateway::pii::write_new_key(&admin_path)?;
    }
    let admin_token = std::fs::read_to_string(&admin_path)?.trim().to_owned();
    let cfg = Config {
        listen: a.listen.clone(),
        data_dir: a.data_dir.clone(),
        upstream_base_url: sandbox_url.clone(),
        admin_token: Some(admin_token.clone().into()),
        blind_index: gateway::config::BlindIndex {
            key: Some(master_key),
            ..Config::default().blind_index
        },
        audit: gateway::config::Audit {
            anchor_file: Some(demo_anchor(&a.data_dir)),
            ..Config::default().audit
        },
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
        providers: demo_providers(&sandbox_url),
        idcheck: gateway::config::Idcheck {
            providers: vec![TENCENT.into(), ALIYUN.into()],
            ..Config::default().idcheck
        },
        ..Config::default()
    };
    let app = Application::build(cfg)
        .await
        .map_err(|e| super::gateway_listen_error(e, &a.listen, "--listen"))?;
    let gateway_url = format!("http://{}", app.local_addr());
    // One key for both tabs: the demo app's WeChat checks and the paid providers' ID checks.
    let (_, key) = super::keys::create(
        app.state().store.as_ref(),
        vec![sandbox::demo::APPID.into()],
        vec![IDCHECK_SCOPE.into()],
        "demo".into(),
    )
    .await?;

    let web = super::demo_web::DemoWeb::spawn(
        bind_web(a.web_addr.as_deref()).await?,
        super::demo_web::Settings {
            gateway_url: gateway_url.clone(),
            sandbox_url: sandbox_url.clone(),
            api_key: key.clone().into(),
            appid: sandbox::demo::APPID.into(),
        },
    )
    .await?;

    println!(
        "{}",
        banner(
            web.url(),
            &gateway_url,
            &sandbox_url,
            &key,
            &admin_token,
            &a.data_dir
        )
    );
    if a.exit_when_ready {
        return Ok(EXIT_OK);
    }
    app.run_until_stopped().await?;
    web.shutdown().await;
    sb.shutdown().await;
    Ok(EXIT_OK)
}

/// The scope that lets a key call `POST /v1/idchecks`.
pub const IDCHECK_SCOPE: &str = "idcheck";
/// The demo's provider names, in the order the gateway asks them.
pub const TENCENT: &str = "tencent";
pub const ALIYUN: &str = "aliyun";

/// Both paid providers, played by the sandbox at `sandbox_url` (the same address as its WeChat endpoints: it
/// tells them apart by their headers), with the sandbox's demo-only credentials (`sandbox::demo`, registered by
/// its seed) set in code: no environment variable, never printed.
pub fn demo_providers(sandbox_url: &str) -> Vec<gateway::config::ProviderConfig> {
    let provider = |name: &str, kind, id: &str, secret: &str| gateway::config::ProviderConfig {
        name: name.into(),
        kind,
        base_url: Some(sandbox_url.to_owned()),
        secret_id_env: None,
        secret_key_env: None,
        access_key_id_env: None,
        access_key_secret_env: None,
        secrets: Some(gateway::config::ProviderSecrets {
            id: id.to_owned().into(),
            secret: secret.to_owned().into(),
        }),
    };
    vec![
        provider(
            TENCENT,
            providers::ProviderKind::TencentFaceid,
            sandbox::demo::TENCENT_SECRET_ID,
            sandbox::demo::TENCENT_SECRET_KEY,
        ),
        provider(
            ALIYUN,
            providers::ProviderKind::AliyunCloudauth,
            sandbox::demo::ALIYUN_ACCESS_KEY_ID,
            sandbox::demo::ALIYUN_ACCESS_KEY_SECRET,
        ),
    ]
}

/// The demo's master key file, in its own data directory: a demo only, where the data is fictional. `serve`
/// refuses this layout (a copy of the data directory would carry the key).
pub const DEMO_KEY_FILE: &str = "demo-master.key";

/// The demo's anchor: beside its data directory, never in it (`./data/demo` -> `./data/demo.anchor`).
pub fn demo_anchor(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.with_extension("anchor")
}

/// The demo's key, created on its first run.
fn demo_key(data_dir: &std::path::Path) -> anyhow::Result<secrecy::SecretString> {
    let path = data_dir.join(DEMO_KEY_FILE);
    if !path.exists() {
        gateway::pii::write_new_key(&path)?;
        tracing::warn!(path = %path.display(), "created the demo's master key beside its data: for the demo only, never in production");
    }
    Ok(std::fs::read_to_string(&path)?.trim().to_owned().into())
}

/// When the configuration names no master key and `data_dir` is a demo's (it holds [`DEMO_KEY_FILE`]), use the
/// demo's key, so that `WXRN_DATA_DIR=./data/demo wxrealname audit verify` works after `wxrealname demo`. Says
/// so on stderr. A configuration with a key of its own is left alone.
pub fn lend_key(cfg: &mut Config) -> anyhow::Result<()> {
    let b = &cfg.blind_index;
    if b.key.is_some() || b.key_env.is_some() || b.key_file.is_some() {
        return Ok(());
    }
    let path = cfg.data_dir.join(DEMO_KEY_FILE);
    if path.exists() {
        eprintln!(
            "{}{}",
            i18n::cli::NOTE_PREFIX.cli(),
            i18n::cli::DEMO_KEY_BORROWED
                .cli_fill(&[("dir", &cfg.data_dir.display()), ("path", &path.display())])
        );
        cfg.blind_index.key = Some(std::fs::read_to_string(&path)?.trim().to_owned().into());
        if !cfg.audit.anchor_file.as_ref().is_some_and(|p| p.exists()) {
            cfg.audit.anchor_file = Some(demo_anchor(&cfg.data_dir));
        }
    }
    Ok(())
}

const DEFAULT_WEB_ADDR: &str = "127.0.0.1:8081";

/// The web app's listener: the address asked for, or the default one, or (when the default is taken, as in a
/// second demo on one machine) any free port: the banner says which.
async fn bind_web(addr: Option<&str>) -> anyhow::Result<tokio::net::TcpListener> {
    match addr {
        Some(addr) => super::bind(addr, "--web-addr").await,
        None => match tokio::net::TcpListener::bind(DEFAULT_WEB_ADDR).await {
            Ok(l) => Ok(l),
            Err(_) => super::bind("127.0.0.1:0", "--web-addr").await,
        },
    }
}

/// The paid providers' part of the banner: what the sandbox's record holds, and a curl per case. The key
/// (`$KEY`) has the idcheck scope; the providers' credentials are the sandbox's and are not shown.
fn idcheck_section(s: &mut String, gateway: &str) {
    let _ = writeln!(
        s,
        "\nID checks without WeChat (Tencent Cloud FaceID first, then Aliyun Cloudauth; both simulated by the sandbox)\n\
         无需微信的身份核验（先问腾讯云人脸核身，失败时再问阿里云实人认证；均由沙箱模拟）：\n"
    );
    s.push_str(&sandbox::demo::provider_cases_table());
    let _ = writeln!(
        s,
        "\nEach check names the user's separate consent to processing their ID number (consent_ref); the same pair\n\
         again within 30 days is answered from the gateway's cache (cached: true, not billed).\n\
         每次核验须附上用户单独同意处理其身份证号的记录编号（consent_ref）；30 天内再次核验同一组姓名和证件号，由网关缓存作答（cached: true，不计费）。"
    );
    for (i, c) in sandbox::demo::PROVIDER_CASES.iter().enumerate() {
        let _ = writeln!(s, "\n# {}: expect \"{}\"", c.submit_name, c.outcome);
        let _ = writeln!(
            s,
            "curl -s -X POST {gateway}/v1/idchecks -H \"Authorization: Bearer $KEY\" -H 'Content-Type: application/json' \\\n  -d '{{\"real_name\":\"{}\",\"cred_id\":\"{}\",\"purpose\":\"demo\",\"consent_ref\":\"demo-consent-{}\"}}'",
            c.submit_name,
            c.submit_cred_id,
            i + 1
        );
    }
}

fn banner(
    web: &str,
    gateway: &str,
    sandbox: &str,
    key: &str,
    admin_token: &str,
    data_dir: &std::path::Path,
) -> String {
    let appid = sandbox::demo::APPID;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "wxrealname demo: all names and ID numbers are fictional\nwxrealname 演示：以下姓名和身份证号均为虚构\n"
    );
    let _ = writeln!(
        s,
        "  demo app  {web}   (open it in a browser: the mini program, the consent page, the outcome / 演示小程序，请用浏览器打开)"
    );
    let _ = writeln!(
        s,
        "  ID check  {web}/idcheck   (the demo app's second tab: name + ID number through Tencent Cloud or Aliyun, simulated, without WeChat / 演示页面的第二个标签页：无需微信的身份核验，经腾讯云或阿里云（模拟）)"
    );
    let _ = writeln!(
        s,
        "  admin     {gateway}/admin   (admin token {admin_token} / 管理台及其令牌)"
    );
    let _ = writeln!(
        s,
        "  gateway   {gateway}   (data in {}; its master key {} lives beside it: demo only, never in production / 网关；主密钥与数据同目录，仅供演示，切勿用于生产)",
        data_dir.display(),
        DEMO_KEY_FILE
    );
    let _ = writeln!(
        s,
        "  sandbox   {sandbox}   (WeChat, simulated / 模拟的微信接口)"
    );
    let _ = writeln!(s, "  app       {appid}");
    let _ = writeln!(s, "  API key   {key}\n");
    let _ = writeln!(s, "Demo users (WeChat, simulated) / 演示用户（模拟）：\n");
    let _ = writeln!(s, "{}", sandbox::demo::users_table());
    let _ = writeln!(
        s,
        "Each check needs a fresh consent code (what WeChat hands the mini program after the user agrees).\n\
         每次核验都需要一个新的授权 code（用户同意后微信交给小程序的一次性凭证）。"
    );
    let _ = writeln!(s, "Copy a block into a shell / 复制任一段到终端运行：\n");
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
    idcheck_section(&mut s, gateway);
    let _ = writeln!(s, "\nCtrl-C stops all three.");
    s
}
