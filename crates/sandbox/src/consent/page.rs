//! The consent page's HTML: built by hand with every value escaped, so there is no template engine to trust.
use super::{Request, with_query};
use crate::demo;

/// What the page shows about one request.
pub(super) struct View<'a> {
    req: &'a Request,
    app_name: String,
}

impl<'a> View<'a> {
    pub(super) fn of(req: &'a Request) -> Self {
        Self {
            req,
            app_name: app_name(&req.appid),
        }
    }
}

/// WeChat shows the mini program's registered name; the sandbox knows names for its demo apps only.
fn app_name(appid: &str) -> String {
    match appid {
        demo::APPID => "城市服务演示".to_owned(),
        demo::NO_PERMISSION_APPID => "无权限演示".to_owned(),
        _ => "小程序".to_owned(),
    }
}

/// HTML-escape text for an element or a double-quoted attribute.
pub(super) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn head(title: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">
<meta name="robots" content="noindex">
<title>{}</title>
<link rel="stylesheet" href="/consent/consent.css">
</head>
"#,
        escape(title)
    )
}

const SANDBOX_NOTE: &str = r#"<p class="sandbox-note"><span class="badge">SANDBOX</span> wxrealname 模拟的微信页面，不含真实数据 · a simulated WeChat page, no real data</p>"#;

pub(super) fn consent(v: &View<'_>) -> String {
    let req = v.req;
    let state = req.state.clone().unwrap_or_default();
    let mut cancel_params = vec![
        ("appid", req.appid.clone()),
        ("return_url", req.return_url.clone()),
    ];
    if !state.is_empty() {
        cancel_params.push(("state", state.clone()));
    }
    let cancel = with_query("/consent/cancel", &cancel_params);
    let initial = v.app_name.chars().next().unwrap_or('小');
    format!(
        r##"{head}<body>
<main class="phone">
<header class="nav">
  <a class="back" href="{cancel}" aria-label="返回 · Back" data-testid="consent-cancel">&#x2039;</a>
  <h1>实名信息验证</h1>
</header>
<section class="card who">
  <div class="avatar" aria-hidden="true">{initial}</div>
  <div>
    <p class="app-name" data-testid="consent-app">{app_name}</p>
    <p class="appid">AppID {appid}</p>
  </div>
</section>
<section class="card ask">
  <h2>申请验证你的身份信息</h2>
  <p class="en">requests to verify your identity</p>
  <ul class="items">
    <li>
      <svg class="icon" viewBox="0 0 24 24" aria-hidden="true"><rect x="2.5" y="5" width="19" height="14" rx="2.5" fill="none" stroke="#07c160" stroke-width="1.6"/><circle cx="8.5" cy="11" r="2.2" fill="#07c160"/><path d="M5 16.2c.6-1.9 1.9-2.9 3.5-2.9s2.9 1 3.5 2.9" fill="#07c160"/><path d="M14 10h5M14 13.5h3.5" stroke="#07c160" stroke-width="1.6" stroke-linecap="round"/></svg>
      <div>
        <p>姓名和身份证号将与你的微信支付实名信息核对是否一致</p>
        <p class="en">Your name and ID number are checked against your WeChat Pay real-name record.</p>
      </div>
    </li>
    <li>
      <svg class="icon" viewBox="0 0 24 24" aria-hidden="true"><path d="M12 2.8 4.5 5.6v5.6c0 4.6 3.1 8.4 7.5 10 4.4-1.6 7.5-5.4 7.5-10V5.6Z" fill="none" stroke="#07c160" stroke-width="1.6" stroke-linejoin="round"/><path d="m8.6 12 2.4 2.4 4.4-4.6" fill="none" stroke="#07c160" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round"/></svg>
      <div>
        <p>该小程序只会得到“一致”或“不一致”的结果，不会获得你的微信支付实名信息</p>
        <p class="en">The mini program only learns whether they match, never your WeChat Pay record.</p>
      </div>
    </li>
  </ul>
  <p class="account">微信账号 · WeChat account <code data-testid="consent-openid">{openid}</code></p>
</section>
<form class="actions" method="post" action="/consent">
  <input type="hidden" name="appid" value="{appid}">
  <input type="hidden" name="openid" value="{openid}">
  <input type="hidden" name="return_url" value="{return_url}">
  <input type="hidden" name="state" value="{state}">
  <button class="primary" type="submit" name="action" value="agree" data-testid="consent-agree">允许 <span class="en">Allow</span></button>
  <button class="secondary" type="submit" name="action" value="decline" data-testid="consent-decline">拒绝 <span class="en">Decline</span></button>
</form>
{SANDBOX_NOTE}
</main>
</body>
</html>
"##,
        head = head("实名信息验证"),
        cancel = escape(&cancel),
        initial = escape(&initial.to_string()),
        app_name = escape(&v.app_name),
        appid = escape(&req.appid),
        openid = escape(&req.openid),
        return_url = escape(&req.return_url),
        state = escape(&state),
    )
}

pub(super) fn error(title: &str, detail: &str) -> String {
    format!(
        r#"{head}<body>
<main class="phone">
<header class="nav"><h1>实名信息验证</h1></header>
<section class="card error" data-testid="consent-error">
  <div class="error-icon" aria-hidden="true">!</div>
  <h2>{title}</h2>
  <p>{detail}</p>
  <p class="en">无法继续验证，请返回小程序重试。 · The verification cannot continue; go back to the mini program and try again.</p>
</section>
{SANDBOX_NOTE}
</main>
</body>
</html>
"#,
        head = head(title),
        title = escape(title),
        detail = escape(detail),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert("x")</script>&'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"
        );
    }

    #[test]
    fn every_field_is_escaped_in_the_page() {
        let req = Request {
            appid: "wx<b>".into(),
            openid: "o\"><script>1</script>".into(),
            return_url: "http://h/r?a=\"><img src=x>".into(),
            state: Some("'><svg onload=alert(1)>".into()),
        };
        let html = consent(&View::of(&req));
        assert!(!html.contains("<script>1"), "{html}");
        assert!(!html.contains("<img src=x>"), "{html}");
        assert!(!html.contains("<svg onload"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(html.contains("o&quot;&gt;&lt;script&gt;1&lt;/script&gt;"));
    }
}
