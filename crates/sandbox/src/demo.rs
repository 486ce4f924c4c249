//! The built-in demo: one app holding the real-name permission with one user per outcome, and one app
//! without it (48001). Seeded when [`crate::SandboxConfig::seed_demo`] is set, and again on every reset.
//!
//! Every name and ID number here is fictional: placeholder names (张三, 李四, ...) and numbers that pass every
//! check (region 110101, a real date, the ISO 7064 check character) but belong to nobody we know of.
use crate::{Result, SandboxState};
use std::fmt;
use std::fmt::Write as _;

/// The demo app, which holds the real-name permission.
pub const APPID: &str = "wxd0000000000de301";
pub const SECRET: &str = "5ad0b0c0de00000000000000000de301";
/// A second demo app, without the permission: its checks answer 48001.
pub const NO_PERMISSION_APPID: &str = "wxd0000000000de302";
pub const NO_PERMISSION_SECRET: &str = "5ad0b0c0de00000000000000000de302";
/// A verified user of [`NO_PERMISSION_APPID`].
pub const NO_PERMISSION_OPENID: &str = "oDEMO-no-permission";

/// A demo user of [`APPID`]: what WeChat holds, what to submit, and what the check then answers.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DemoUser {
    pub openid: &'static str,
    /// The name WeChat Pay holds; `None`: real-name verification never completed.
    pub stored_name: Option<&'static str>,
    pub stored_cred_id: Option<&'static str>,
    /// What to send to get [`outcome`](Self::outcome).
    pub submit_name: &'static str,
    pub submit_cred_id: &'static str,
    /// `"match"`, `"id_mismatch"`, `"name_mismatch"` or `"not_verified"`.
    pub outcome: &'static str,
    pub note: &'static str,
}

impl DemoUser {
    /// `(verify_openid, verify_real_name)` the check answers for the submitted values.
    pub fn expected(&self) -> (&'static str, &'static str) {
        match self.outcome {
            "match" => ("V_OP_NM_MA", "V_NM_ID_MA"),
            "id_mismatch" => ("V_OP_NM_MA", "V_NM_ID_UM"),
            "name_mismatch" => ("V_OP_NM_UM", ""),
            _ => ("V_OP_NA", ""),
        }
    }
}

impl fmt::Debug for DemoUser {
    // Fictional, but printed only where meant to be (the banner): Debug output ends up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DemoUser")
            .field("openid", &self.openid)
            .field("outcome", &self.outcome)
            .finish_non_exhaustive()
    }
}

pub const USERS: &[DemoUser] = &[
    DemoUser {
        openid: "oDEMO-match-adult",
        stored_name: Some("张三"),
        stored_cred_id: Some("110101199003070038"),
        submit_name: "张三",
        submit_cred_id: "110101199003070038",
        outcome: "match",
        note: "an adult (born 1990-03-07); name and ID number match",
    },
    DemoUser {
        openid: "oDEMO-match-minor",
        stored_name: Some("欧阳娜娜"),
        stored_cred_id: Some("110101201605120020"),
        submit_name: "欧阳娜娜",
        submit_cred_id: "110101201605120020",
        outcome: "match",
        note: "a minor (born 2016-05-12, under 14): a match that needs a guardian's consent",
    },
    DemoUser {
        openid: "oDEMO-match-x",
        stored_name: Some("孙七"),
        stored_cred_id: Some("11010119881108007X"),
        submit_name: "孙七",
        submit_cred_id: "11010119881108007x",
        outcome: "match",
        note: "check character X submitted in lower case: still a match",
    },
    DemoUser {
        openid: "oDEMO-id-mismatch",
        stored_name: Some("李四"),
        stored_cred_id: Some("110101198512120051"),
        submit_name: "李四",
        submit_cred_id: "110101198512120078",
        outcome: "id_mismatch",
        note: "right name, another (valid) ID number",
    },
    DemoUser {
        openid: "oDEMO-name-mismatch",
        stored_name: Some("王五"),
        stored_cred_id: Some("110101197806150016"),
        submit_name: "王小五",
        submit_cred_id: "110101197806150016",
        outcome: "name_mismatch",
        note: "the name differs from the one WeChat Pay holds",
    },
    DemoUser {
        openid: "oDEMO-not-verified",
        stored_name: None,
        stored_cred_id: None,
        submit_name: "赵六",
        submit_cred_id: "110101200109200043",
        outcome: "not_verified",
        note: "never completed WeChat Pay real-name verification",
    },
];

/// The demo's Tencent Cloud credentials for FaceID at `POST /` (fictional; only the sandbox knows them).
pub const TENCENT_SECRET_ID: &str = "AKIDdemo000000000000000000000000de301";
pub const TENCENT_SECRET_KEY: &str = "demo-tencent-secret-key-0000000de301";
/// The demo's Aliyun AccessKey for Cloudauth at `POST /` (fictional).
pub const ALIYUN_ACCESS_KEY_ID: &str = "LTAIdemo0000000000de301";
pub const ALIYUN_ACCESS_KEY_SECRET: &str = "demo-aliyun-access-key-secret-de301";

/// The paid providers' authoritative record in the demo: (name, ID number). Fictional, like the users above.
pub const PEOPLE: &[(&str, &str)] = &[
    ("张三", "110101199003070038"),
    ("李四", "110101198512120051"),
    ("孙七", "11010119881108007X"),
];

/// A name + ID-number check against the paid providers, and what it answers.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ProviderCase {
    pub submit_name: &'static str,
    pub submit_cred_id: &'static str,
    /// `"match"`, `"mismatch"` or `"no_record"`.
    pub outcome: &'static str,
    pub note: &'static str,
    /// The note in Chinese, for the demo web app's example picker.
    pub note_zh: &'static str,
}

impl fmt::Debug for ProviderCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderCase")
            .field("outcome", &self.outcome)
            .finish_non_exhaustive()
    }
}

pub const PROVIDER_CASES: &[ProviderCase] = &[
    ProviderCase {
        submit_name: "张三",
        submit_cred_id: "110101199003070038",
        outcome: "match",
        note: "the record holds this pair (Tencent Result 0, Aliyun BizCode 1; billed)",
        note_zh: "证件库中有这组姓名和身份证号（腾讯云 Result 0，阿里云 BizCode 1；计费）",
    },
    ProviderCase {
        submit_name: "孙七",
        submit_cred_id: "11010119881108007x",
        outcome: "match",
        note: "check character x in lower case: still a match",
        note_zh: "校验码 x 用小写填写：仍然一致",
    },
    ProviderCase {
        submit_name: "王五",
        submit_cred_id: "110101198512120051",
        outcome: "mismatch",
        note: "the ID number belongs to someone else (Result -1, BizCode 2; billed)",
        note_zh: "该身份证号属于另一个人（Result -1，BizCode 2；计费）",
    },
    ProviderCase {
        submit_name: "赵六",
        submit_cred_id: "110101200109200043",
        outcome: "no_record",
        note: "a valid ID number nobody registered (Result -5, BizCode 3; not billed)",
        note_zh: "有效但证件库中没有的身份证号（Result -5，BizCode 3；不计费）",
    },
];

/// The demo user with this openid.
pub fn user(openid: &str) -> Option<&'static DemoUser> {
    USERS.iter().find(|u| u.openid == openid)
}

pub(crate) fn seed(state: &SandboxState) -> Result<()> {
    state.add_app(APPID, SECRET, true)?;
    for u in USERS {
        state.add_user(APPID, u.openid, u.stored_name, u.stored_cred_id)?;
    }
    state.add_app(NO_PERMISSION_APPID, NO_PERMISSION_SECRET, false)?;
    let adult = &USERS[0];
    state.add_user(
        NO_PERMISSION_APPID,
        NO_PERMISSION_OPENID,
        adult.stored_name,
        adult.stored_cred_id,
    )?;
    state.add_tencent_credentials(TENCENT_SECRET_ID, TENCENT_SECRET_KEY)?;
    state.add_aliyun_credentials(ALIYUN_ACCESS_KEY_ID, ALIYUN_ACCESS_KEY_SECRET)?;
    for (name, cred_id) in PEOPLE {
        state.add_person(name, cred_id)?;
    }
    Ok(())
}

/// What a newcomer needs to start: the demo apps and users, and curl commands for one check.
/// `text` followed by spaces up to `width` terminal columns. Not `format!("{:<w$}")`, which counts chars: a
/// Chinese character takes two columns, so names would push the columns after them out of line.
pub fn pad(text: &str, width: usize) -> String {
    let used = unicode_width::UnicodeWidthStr::width(text);
    format!("{text}{}", " ".repeat(width.saturating_sub(used)))
}

/// The demo users as a table (openid, the name and ID number to submit, the outcome, a note), its columns
/// aligned by display width. Printed by the sandbox's and the demo's banners.
pub fn users_table() -> String {
    table(
        ["openid", "name", "cred_id", "outcome"],
        USERS
            .iter()
            .map(|u| {
                (
                    [u.openid, u.submit_name, u.submit_cred_id, u.outcome],
                    u.note,
                )
            })
            .collect(),
    )
}

/// The paid providers' demo cases as a table (the name and ID number to submit, the outcome, a note), aligned
/// like [`users_table`]. Printed by the sandbox's and the demo's banners.
pub fn provider_cases_table() -> String {
    table(
        ["name", "cred_id", "outcome"],
        PROVIDER_CASES
            .iter()
            .map(|c| ([c.submit_name, c.submit_cred_id, c.outcome], c.note))
            .collect(),
    )
}

/// `header` then `rows`, each cell padded to its column's widest display width plus two, the note last.
fn table<const N: usize>(header: [&str; N], rows: Vec<([&str; N], &str)>) -> String {
    let widths: Vec<usize> = (0..N)
        .map(|i| {
            std::iter::once(header[i])
                .chain(rows.iter().map(|(r, _)| r[i]))
                .map(unicode_width::UnicodeWidthStr::width)
                .max()
                .unwrap_or(0)
                + 2
        })
        .collect();
    let line = |cells: &[&str; N], note: &str| {
        let mut l: String = cells.iter().zip(&widths).map(|(c, w)| pad(c, *w)).collect();
        l.push_str(note);
        l.push('\n');
        l
    };
    let mut s = line(&header, "note");
    for (cells, note) in &rows {
        s.push_str(&line(cells, note));
    }
    s
}

pub fn banner(base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    let mut s = String::new();
    let _ = writeln!(
        s,
        "WeChat sandbox at {base} (all names and ID numbers below are fictional)\n\
         微信接口沙箱：{base}（以下姓名和身份证号均为虚构）\n"
    );
    let _ = writeln!(
        s,
        "demo app      appid {APPID}  secret {SECRET}  (holds the real-name permission)"
    );
    let _ = writeln!(
        s,
        "no-permission appid {NO_PERMISSION_APPID}  secret {NO_PERMISSION_SECRET}  (checks answer 48001)\n"
    );
    s.push_str(&users_table());
    let u = &USERS[0];
    let _ = write!(
        s,
        r#"
Try one check (needs curl and jq):
  TOKEN=$(curl -s "{base}/cgi-bin/token?grant_type=client_credential&appid={APPID}&secret={SECRET}" | jq -r .access_token)
  CODE=$(curl -s -X POST {base}/sandbox/consent -d '{{"appid":"{APPID}","openid":"{openid}"}}' | jq -r .code)
  curl -s -X POST "{base}/intp/realname/checkrealnameinfo?access_token=$TOKEN" \
    -H 'Content-Type: application/json' \
    -d '{{"openid":"{openid}","real_name":"{name}","cred_id":"{cred}","cred_type":"1","code":"'$CODE'"}}'

More:
  curl -s -X POST {base}/sandbox/login -d '{{"appid":"{APPID}","openid":"{openid}"}}'      # a wx.login js_code
  curl -s -X POST {base}/sandbox/faults -d '{{"endpoint":"checkrealnameinfo","errcode":-1}}'  # next check: system busy
  curl -s -X POST {base}/sandbox/clock -d '{{"advance_secs":7200}}'                            # expire every token
  curl -s {base}/sandbox/stats ; curl -s -X POST {base}/sandbox/reset
"#,
        openid = u.openid,
        name = u.submit_name,
        cred = u.submit_cred_id,
    );
    let _ = writeln!(
        s,
        "\nPaid name + ID-number checks at POST {base}/ (signed requests; see crates/providers):\n\
         tencent  X-TC-Action: IdCardVerification  secret_id {TENCENT_SECRET_ID}  secret_key {TENCENT_SECRET_KEY}\n\
         aliyun   x-acs-action: Id2MetaVerify      access_key_id {ALIYUN_ACCESS_KEY_ID}  access_key_secret {ALIYUN_ACCESS_KEY_SECRET}\n"
    );
    s.push_str(&provider_cases_table());
    s
}

#[cfg(test)]
mod banner_tests {
    use super::*;
    use unicode_width::UnicodeWidthStr;

    /// The display column where each cell starts, each searched after the one before.
    fn starts(line: &str, cells: &[&str]) -> Vec<usize> {
        let mut from = 0;
        cells
            .iter()
            .map(|c| {
                let at = from
                    + line[from..]
                        .find(c)
                        .unwrap_or_else(|| panic!("{c} in {line}"));
                from = at + c.len();
                line[..at].width()
            })
            .collect()
    }

    /// Every column starts at the same display column on every line, Chinese names included.
    #[test]
    fn the_users_table_aligns_by_display_width() {
        let table = users_table();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), USERS.len() + 1);
        let header = starts(lines[0], &["openid", "name", "cred_id", "outcome", "note"]);
        for (line, u) in lines[1..].iter().zip(USERS) {
            assert_eq!(
                starts(
                    line,
                    &[u.openid, u.submit_name, u.submit_cred_id, u.outcome, u.note]
                ),
                header,
                "{line}"
            );
        }
        assert!(banner("http://127.0.0.1:9100").contains(&table));
    }

    #[test]
    fn the_provider_cases_table_aligns_by_display_width() {
        let table = provider_cases_table();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), PROVIDER_CASES.len() + 1);
        let header = starts(lines[0], &["name", "cred_id", "outcome", "note"]);
        for (line, c) in lines[1..].iter().zip(PROVIDER_CASES) {
            assert_eq!(
                starts(line, &[c.submit_name, c.submit_cred_id, c.outcome, c.note]),
                header,
                "{line}"
            );
        }
        assert!(banner("http://127.0.0.1:9100").contains(&table));
    }
}
