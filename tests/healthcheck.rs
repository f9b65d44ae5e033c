//! `vendor-mock healthcheck`, the Docker image's HEALTHCHECK: it must look where the image
//! listens (`VENDOR_MOCK_LISTEN=0.0.0.0:8080`, an address one cannot connect to) and say
//! why when nothing answers. The binary runs on the blocking pool, so the test's runtime
//! keeps serving it.

use std::process::Output;

use crate::support::TestServer;

async fn healthcheck(listen: String) -> Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_vendor-mock"))
            .arg("healthcheck")
            .env("VENDOR_MOCK_LISTEN", listen)
            .output()
            .expect("vendor-mock runs")
    })
    .await
    .expect("the healthcheck's task finishes")
}

#[tokio::test]
async fn healthcheck_finds_the_server_through_vendor_mock_listen_0_0_0_0() {
    let server = TestServer::start().await;
    let out = healthcheck(format!("0.0.0.0:{}", server.addr.port())).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn healthcheck_exits_1_naming_the_address_when_nothing_answers() {
    let server = TestServer::start().await;
    let port = server.addr.port();
    server.stop().await.unwrap();
    let out = healthcheck(format!("0.0.0.0:{port}")).await;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("no vendor-mock answering at 127.0.0.1:{port}")),
        "{err}"
    );
}

#[tokio::test]
async fn healthcheck_gives_up_on_a_server_that_accepts_but_never_answers() {
    // The kernel completes the connection from the listen backlog; nothing ever reads it.
    let hung = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = hung.local_addr().expect("bound").port();
    let out = healthcheck(format!("127.0.0.1:{port}")).await;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("no vendor-mock answering at 127.0.0.1:{port}")),
        "{err}"
    );
    drop(hung);
}
