//! Reading a request head from bytes that are still in the socket (peeked), so that nothing is read, and no
//! hyper state exists, until the request has been admitted.

use super::MAX_HEAD_BYTES;
use super::admission::BodyHint;
use axum::body::Bytes;
use axum::http::request::Parts;
use axum::http::{Request, Version, header};

/// Header lines accepted in one head (hyper's own limit).
const MAX_HEADERS: usize = 100;

#[derive(Debug)]
pub(super) enum Inspected {
    /// A whole head: what the [`super::Gate`] needs, and how the body stands.
    Complete(Box<Head>),
    Partial,
    /// No blank line within [`MAX_HEAD_BYTES`], or too many header lines: 431.
    TooLarge,
    /// Not HTTP as we read it: hyper answers it (400) and closes.
    Invalid,
}

#[derive(Debug)]
pub(super) struct Head {
    pub(super) parts: Parts,
    /// Bytes of this request (head and body) when its length is known: hyper is given no more, so it never reads
    /// the next request ahead of its admission.
    pub(super) length: Option<usize>,
    pub(super) body: BodyHint,
}

/// Looks at the bytes received so far on a connection (`bytes.len() <= MAX_HEAD_BYTES`).
pub(super) fn inspect(bytes: &[u8]) -> Inspected {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(bytes) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if bytes.len() >= MAX_HEAD_BYTES => {
            return Inspected::TooLarge;
        }
        Ok(httparse::Status::Partial) => return Inspected::Partial,
        Err(httparse::Error::TooManyHeaders) => return Inspected::TooLarge,
        Err(_) => return Inspected::Invalid,
    };
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Inspected::Invalid;
    };
    let mut builder = Request::builder()
        .method(method)
        .uri(target)
        .version(if version == 0 {
            Version::HTTP_10
        } else {
            Version::HTTP_11
        });
    for h in req.headers.iter() {
        builder = builder.header(h.name, h.value);
    }
    let Ok(parts) = builder.body(()).map(|r| r.into_parts().0) else {
        return Inspected::Invalid;
    };
    let arrived = bytes.len() - head_len;
    let (length, body) = match body_length(&parts) {
        Some(0) => (Some(head_len), BodyHint::Here),
        Some(n) if arrived >= n => (Some(head_len + n), BodyHint::Here),
        // Everything that could be looked at was, and the body goes on beyond it.
        Some(n) if bytes.len() >= MAX_HEAD_BYTES => (Some(head_len + n), BodyHint::Unknown),
        Some(n) => (Some(head_len + n), BodyHint::Missing),
        None => (None, BodyHint::Unknown),
    };
    Inspected::Complete(Box::new(Head {
        parts,
        length,
        body,
    }))
}

/// The body's length as HTTP/1.1 frames it: `None` when chunked or unclear (hyper then decides).
fn body_length(parts: &Parts) -> Option<usize> {
    if parts.headers.contains_key(header::TRANSFER_ENCODING) {
        return None;
    }
    let mut lengths = parts.headers.get_all(header::CONTENT_LENGTH).iter();
    let Some(first) = lengths.next() else {
        return Some(0);
    };
    let n = first.to_str().ok()?.trim().parse().ok()?;
    lengths.next().is_none().then_some(n)
}

/// A whole HTTP/1.1 answer with a JSON body that closes its connection.
pub(super) fn raw_answer(status_line: &str, body: &[u8]) -> Bytes {
    let mut out = format!(
        "HTTP/1.1 {status_line}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(bytes: &[u8]) -> Head {
        match inspect(bytes) {
            Inspected::Complete(head) => *head,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_head_is_complete_at_its_blank_line() {
        assert!(matches!(
            inspect(b"GET / HTTP/1.1\r\nHost: x\r\n"),
            Inspected::Partial
        ));
        let head = complete(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /next");
        assert_eq!(head.parts.uri.path(), "/healthz");
        assert_eq!((head.length, head.body), (Some(34), BodyHint::Here));
        assert_eq!(complete(b"GET / HTTP/1.0\n\n").length, Some(16));
        assert!(matches!(inspect(b"{\"openid\": 1}"), Inspected::Invalid));
    }

    #[test]
    fn the_body_is_known_to_have_arrived_or_not() {
        let head = complete(b"POST /v1/x HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}");
        assert_eq!((head.length, head.body), (Some(44), BodyHint::Here));
        let head = complete(b"POST /v1/x HTTP/1.1\r\nContent-Length: 1000\r\n\r\n{}");
        assert_eq!((head.length, head.body), (Some(1045), BodyHint::Missing));
        let head = complete(b"POST /v1/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!((head.length, head.body), (None, BodyHint::Unknown));
        let both = b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n";
        assert_eq!(complete(both).body, BodyHint::Unknown);
    }

    #[test]
    fn a_head_without_end_within_the_limit_is_too_large() {
        let mut long = b"GET / HTTP/1.1\r\nX-Pad: ".to_vec();
        long.resize(MAX_HEAD_BYTES, b'a');
        assert!(matches!(inspect(&long), Inspected::TooLarge));
        assert!(matches!(
            inspect(&long[..MAX_HEAD_BYTES - 1]),
            Inspected::Partial
        ));
        let many = format!(
            "GET / HTTP/1.1\r\n{}\r\n",
            "A: b\r\n".repeat(MAX_HEADERS + 1)
        );
        assert!(matches!(inspect(many.as_bytes()), Inspected::TooLarge));
    }
}
