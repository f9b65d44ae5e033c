//! The baseline for `bench/run.py`: a bare hyper 1 server that answers every request
//! with fixed bytes (status, content type, body) given on the command line, so the
//! benchmark compares vendor-mock against the cost of HTTP alone.
//!
//! Usage: bare_hyper ADDR STATUS CONTENT_TYPE BODY_FILE

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, addr, status, content_type, body_file] = &args[..] else {
        eprintln!("usage: bare_hyper ADDR STATUS CONTENT_TYPE BODY_FILE");
        std::process::exit(2);
    };
    let status =
        StatusCode::from_u16(status.parse().expect("a status code")).expect("a valid status");
    let body = Bytes::from(std::fs::read(body_file).expect("the body file"));
    let content_type: &'static str = Box::leak(content_type.clone().into_boxed_str());
    let listener = TcpListener::bind(addr.as_str()).await.expect("bind");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let body = body.clone();
                async move {
                    // Read the request body as the mock does, so both do the same work.
                    let _ = req.into_body().collect().await;
                    let mut resp = Response::new(Full::new(body));
                    *resp.status_mut() = status;
                    resp.headers_mut().insert(
                        "content-type",
                        content_type.parse().expect("a content type"),
                    );
                    Ok::<_, Infallible>(resp)
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
