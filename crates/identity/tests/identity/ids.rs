use identity::{AppId, OpenId};

#[test]
fn wechat_identifiers_are_plain_tokens() {
    assert!(AppId::parse("wx308bd2aeb83d3345").is_ok());
    assert!(OpenId::parse("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o").is_ok());
    assert_eq!(AppId::parse("").unwrap_err().code(), "appid");
    assert_eq!(AppId::parse(&"a".repeat(65)).unwrap_err().code(), "appid");
    assert_eq!(OpenId::parse("o p").unwrap_err().code(), "openid");
    assert_eq!(OpenId::parse("开放").unwrap_err().code(), "openid");
    assert!(OpenId::parse(&"a".repeat(128)).is_ok());
}
