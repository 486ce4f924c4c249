//! TLS verification is always on; `ca_file` adds a private CA.
//!
//! The fixtures in `tests/fixtures/tls` are a throw-away CA (key discarded) and a server certificate for
//! 127.0.0.1 that it signed, valid for 100 years:
//! ```text
//! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem \
//!   -days 36500 -subj "/CN=wxrealname test CA" -addext basicConstraints=critical,CA:TRUE \
//!   -addext keyUsage=critical,keyCertSign,cRLSign
//! openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key -out server.csr \
//!   -subj /CN=127.0.0.1
//! openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 36500 \
//!   -extfile ext.cnf   # CA:FALSE, digitalSignature, serverAuth, subjectAltName=IP:127.0.0.1,DNS:localhost
//! ```
use identity::AppId;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{ServerConfig, crypto};
use wechat::{AppSecret, Client, ClientConfig};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

/// An HTTPS server on 127.0.0.1:0 that answers every request with a token.
async fn https_upstream() -> String {
    let certs = CertificateDer::pem_file_iter(fixture("server.pem"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).unwrap();
    let config = ServerConfig::builder_with_provider(Arc::new(crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                let mut buf = vec![0u8; 8192];
                let _ = tls.read(&mut buf).await;
                let body = r#"{"access_token":"tls-token","expires_in":7200}"#;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    format!("https://{addr}")
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_and_ca_file_trusts_it() {
    let base_url = https_upstream().await;
    let appid = AppId::parse("wx00000000000000a1").unwrap();
    let secret = AppSecret::new("tls-secret".into());

    let strict = Client::new(ClientConfig {
        base_url: base_url.clone(),
        ..Default::default()
    })
    .unwrap();
    let err = strict.token(&appid, &secret).await.unwrap_err();
    assert_eq!(err.kind(), "not_sent", "{err}");
    assert!(!err.may_have_reached_wechat());
    assert!(!err.to_string().contains("tls-secret"));

    let trusting = Client::new(ClientConfig {
        base_url,
        ca_file: Some(fixture("ca.pem")),
        ..Default::default()
    })
    .unwrap();
    let issued = trusting.token(&appid, &secret).await.unwrap();
    assert_eq!(issued.token.expose(), "tls-token");
}

#[test]
fn a_ca_file_without_certificates_is_a_config_error() {
    let err = Client::new(ClientConfig {
        ca_file: Some(fixture("server.key")),
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(err.kind(), "config");
}
