//! One keep-alive HTTP/1.1 connection (hyper), so a benchmark controls its connection count.

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

/// A parsed `http://host:port/path` base URL.
#[derive(Debug, Clone)]
pub struct Base {
    pub authority: String,
    pub path: String,
}

impl Base {
    pub fn parse(url: &str) -> Result<Base> {
        let uri: hyper::Uri = url
            .parse()
            .with_context(|| format!("'{url}' is not a URL"))?;
        if uri.scheme_str() != Some("http") {
            bail!("'{url}': only http:// base URLs are supported by the load generator");
        }
        let authority = uri.authority().context("the URL has no host")?.to_string();
        Ok(Base {
            authority,
            path: uri.path().trim_end_matches('/').to_string(),
        })
    }
}

pub struct Conn {
    base: Base,
    sender: SendRequest<Full<Bytes>>,
}

impl Conn {
    pub async fn open(base: &Base) -> Result<Conn> {
        let stream = tokio::net::TcpStream::connect(&base.authority)
            .await
            .with_context(|| format!("connecting to {}", base.authority))?;
        stream.set_nodelay(true).ok();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn {
            base: base.clone(),
            sender,
        })
    }

    /// Sends a request to `[base]/[path]` with these headers (and no others but `host`);
    /// returns status and body.
    pub async fn request_with(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> Result<(u16, Bytes)> {
        self.sender.ready().await?;
        let uri = if path.is_empty() {
            if self.base.path.is_empty() {
                "/".to_string()
            } else {
                self.base.path.clone()
            }
        } else {
            format!("{}/{}", self.base.path, path.trim_start_matches('/'))
        };
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(uri)
            .header("host", &self.base.authority);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(body.unwrap_or_default()))?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    /// Sends a request to `[base]/[path]`; returns status and body.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Bytes)> {
        self.sender.ready().await?;
        let uri = match (path.is_empty(), self.base.path.is_empty()) {
            (true, true) => "/".to_string(),
            (true, false) => self.base.path.clone(),
            (false, _) => format!("{}/{path}", self.base.path),
        };
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(uri)
            .header("host", &self.base.authority)
            .header("accept", "application/fhir+json");
        if body.is_some() {
            req = req
                .header("content-type", "application/fhir+json")
                .header("prefer", "return=minimal");
        }
        let req = req.body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}
