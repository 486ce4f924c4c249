//! A TCP proxy in front of PostgreSQL that can be switched off (connections cut, new ones refused) and on
//! again on the same port: an outage without touching the shared server.

use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug)]
pub struct Proxy {
    pub addr: SocketAddr,
    upstream: String,
    up: watch::Sender<bool>,
    accept: Option<JoinHandle<()>>,
}

impl Proxy {
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut p = Self {
            addr: listener.local_addr().unwrap(),
            upstream: upstream.to_owned(),
            up: watch::channel(true).0,
            accept: None,
        };
        p.serve(listener);
        p
    }

    fn serve(&mut self, listener: TcpListener) {
        let (upstream, up) = (self.upstream.clone(), self.up.clone());
        self.accept = Some(tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(pipe(client, upstream.clone(), up.subscribe()));
            }
        }));
    }

    /// Cut every connection and refuse new ones (the listener is closed).
    pub async fn down(&mut self) {
        if let Some(a) = self.accept.take() {
            a.abort();
            let _ = a.await;
        }
        self.up.send_replace(false);
    }

    /// Listen again on the same port.
    pub async fn up(&mut self) {
        self.up.send_replace(true);
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }
}

async fn pipe(mut client: TcpStream, upstream: String, mut up: watch::Receiver<bool>) {
    let Ok(mut server) = TcpStream::connect(&upstream).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = up.wait_for(|up| !*up) => {}
    }
}

/// `url` with its host and port replaced by `addr`, and the host:port it named.
pub fn reroute(url: &str, addr: SocketAddr) -> (String, String) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (format!("{u}@"), h),
        None => (String::new(), authority),
    };
    let upstream = if hostport.contains(':') {
        hostport.to_owned()
    } else {
        format!("{hostport}:5432")
    };
    (format!("{scheme}://{userinfo}{addr}{tail}"), upstream)
}
