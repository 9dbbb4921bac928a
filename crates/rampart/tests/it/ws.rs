//! `GET /ws` (issue 11 §2; D7, B3, B4, B6): refusals before any upgrade (origin, no
//! or bad credentials, a token in the query string), the three ways in (session
//! cookie, bearer header, first frame), the per-IP handshake limit exact on the
//! injected clock, fan-out to every socket of a recipient (messages, read receipts,
//! ticket replies), sockets closed at once by a ban, a revoked session or a logout,
//! a stalled reader disconnected at its queue bound, and two server processes on one
//! PostgreSQL database delivering to each other's sockets.

use crate::identity::{ctx, parts, user};
use crate::market::{bearer, call};
use anyhow::{bail, Context, Result};
use futures::{SinkExt, StreamExt};
use rampart::config::LimitOverride;
use rampart_kernel::account::{AccountStatus, Role};
use rampart_test_support::{both_engines, Engine, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

type Ws = WebSocketStream<TcpStream>;

both_engines!(
    refusals_happen_before_the_upgrade_and_open_nothing,
    cookie_header_and_first_frame_authenticate,
    every_socket_of_a_recipient_gets_messages_receipts_and_ticket_replies,
    a_ban_closes_every_socket_and_a_revoked_session_its_own,
);

/// What a refused handshake answered.
struct Refused {
    status: u16,
    headers: tungstenite::http::HeaderMap,
    body: Value,
}

/// Opens `ws://…{path}` from `ip` with extra headers; `Err(Refused)` when the server
/// answered the handshake with an HTTP error instead of 101.
async fn ws_open(
    base: &str,
    path: &str,
    ip: &str,
    headers: &[(&str, &str)],
) -> Result<std::result::Result<Ws, Refused>> {
    ws_open_with(base, path, ip, headers, None).await
}

/// [`ws_open`] with the client's kernel receive buffer set to `rcvbuf` bytes.
async fn ws_open_with(
    base: &str,
    path: &str,
    ip: &str,
    headers: &[(&str, &str)],
    rcvbuf: Option<u32>,
) -> Result<std::result::Result<Ws, Refused>> {
    let addr: std::net::SocketAddr = base
        .trim_start_matches("http://")
        .parse()
        .context("server address")?;
    let sock = TcpSocket::new_v4()?;
    sock.bind(format!("{ip}:0").parse()?)?;
    if let Some(n) = rcvbuf {
        sock.set_recv_buffer_size(n)?;
    }
    let tcp = sock.connect(addr).await?;
    let mut req = format!("ws://{addr}{path}").into_client_request()?;
    for (k, v) in headers {
        req.headers_mut().append(
            tungstenite::http::HeaderName::from_bytes(k.as_bytes())?,
            v.parse()?,
        );
    }
    match tokio_tungstenite::client_async(req, tcp).await {
        Ok((ws, _)) => Ok(Ok(ws)),
        Err(tungstenite::Error::Http(r)) => {
            let status = r.status().as_u16();
            let headers = r.headers().clone();
            let body = r
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            Ok(Err(Refused {
                status,
                headers,
                body,
            }))
        }
        Err(e) => Err(e.into()),
    }
}

/// The site's own origin as a browser on the page would send it.
fn origin(app_url: &str) -> String {
    app_url.to_owned()
}

/// Opens a socket that must be accepted, with `Origin` set to the site.
async fn ws_ok(base: &str, ip: &str, headers: &[(&str, &str)]) -> Result<Ws> {
    let o = origin(base);
    let mut h = vec![("origin", o.as_str())];
    h.extend_from_slice(headers);
    match ws_open(base, "/ws", ip, &h).await? {
        Ok(ws) => Ok(ws),
        Err(r) => bail!("handshake refused: {} {}", r.status, r.body),
    }
}

/// The next JSON event (pings skipped), within 10 s.
async fn next_event(ws: &mut Ws) -> Result<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let m = tokio::time::timeout_at(deadline, ws.next())
            .await
            .context("no event within 10 s")?
            .context("socket ended")??;
        match m {
            Message::Text(t) => return Ok(serde_json::from_str(t.as_str())?),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => bail!("unexpected frame {other:?}"),
        }
    }
}

/// The next event of `kind`, skipping others.
async fn next_of(ws: &mut Ws, kind: &str) -> Result<Value> {
    loop {
        let e = next_event(ws).await?;
        if e["type"] == kind {
            return Ok(e);
        }
    }
}

/// Waits for the server's close frame; returns its code and reason.
async fn closed_with(ws: &mut Ws) -> Result<(u16, String)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let m = tokio::time::timeout_at(deadline, ws.next())
            .await
            .context("not closed within 10 s")?;
        match m {
            Some(Ok(Message::Close(Some(f)))) => {
                return Ok((u16::from(f.code), f.reason.to_string()))
            }
            Some(Ok(Message::Close(None))) => return Ok((1005, String::new())),
            Some(Ok(_)) => continue,
            Some(Err(e)) => bail!("socket error before a close frame: {e}"),
            None => bail!("socket ended without a close frame"),
        }
    }
}

/// Waits until the hub holds `n` sockets of `user` (registration follows the 101).
async fn until_connected(app: &TestApp, user: &str, n: usize) -> Result<()> {
    for _ in 0..200 {
        if app.state.realtime.connections_of(user) == n {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    bail!(
        "{user}: {} sockets, expected {n}",
        app.state.realtime.connections_of(user)
    )
}

fn bearer_header(token: &str) -> String {
    format!("Bearer {token}")
}

async fn refusals_happen_before_the_upgrade_and_open_nothing(app: TestApp) -> Result<()> {
    let (alice, token) = bearer(&app, "wr_alice", Role::Customer).await?;
    let auth = bearer_header(&token);
    let ip = "127.0.0.1";
    // A page on another site cannot open a socket with the user's credentials.
    let r = ws_open(
        &app.url,
        "/ws",
        ip,
        &[("origin", "https://evil.example"), ("authorization", &auth)],
    )
    .await?
    .err()
    .context("foreign origin accepted")?;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (403, Some("origin_not_allowed"))
    );
    // `null` (sandboxed frames) is not an origin.
    let r = ws_open(
        &app.url,
        "/ws",
        ip,
        &[("origin", "null"), ("authorization", &auth)],
    )
    .await?
    .err()
    .context("null origin accepted")?;
    assert_eq!(r.status, 403);
    // Origin is exactly scheme://host[:port], and there is one of it.
    let site = origin(&app.url);
    let with_path = format!("{site}/x");
    let with_slash = format!("{site}/");
    let with_rest = format!("{site}.evil.example");
    for bad in [
        vec![("origin", with_path.as_str())],
        vec![("origin", with_slash.as_str())],
        vec![("origin", with_rest.as_str())],
        vec![
            ("origin", site.as_str()),
            ("origin", "https://evil.example"),
        ],
        vec![("origin", site.as_str()), ("origin", site.as_str())],
    ] {
        let mut h = bad.clone();
        h.push(("authorization", &auth));
        let r = ws_open(&app.url, "/ws", ip, &h)
            .await?
            .err()
            .with_context(|| format!("{bad:?} accepted"))?;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (403, Some("origin_not_allowed")),
            "{bad:?}"
        );
    }
    assert_eq!(app.state.realtime.connections_of(&alice), 0);
    // No Origin at all: refused unless configured (WS_ALLOW_NO_ORIGIN).
    let r = ws_open(&app.url, "/ws", ip, &[("authorization", &auth)])
        .await?
        .err()
        .context("no origin accepted")?;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (403, Some("origin_not_allowed"))
    );
    // A token in the query string is refused whatever else is right, valid or not.
    let o = origin(&app.url);
    for q in [
        format!("/ws?access_token={token}"),
        format!("/ws?token={token}"),
        "/ws?x=1".to_owned(),
    ] {
        let r = ws_open(&app.url, &q, ip, &[("origin", &o)])
            .await?
            .err()
            .context("query accepted")?;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (400, Some("credentials_in_url")),
            "{q}"
        );
        assert!(!r.body.to_string().contains(&token), "the token is echoed");
    }
    // A credential that does not authenticate: 401 before any upgrade.
    let r = ws_open(
        &app.url,
        "/ws",
        ip,
        &[("origin", &o), ("authorization", "Bearer not-a-token")],
    )
    .await?
    .err()
    .context("bad bearer accepted")?;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (401, Some("token_invalid"))
    );
    let r = ws_open(
        &app.url,
        "/ws",
        ip,
        &[("origin", &o), ("cookie", "rampart_session=forged.secret")],
    )
    .await?
    .err()
    .context("forged cookie accepted")?;
    assert_eq!(r.status, 401);
    // A PAT without messages:read cannot hold a socket.
    let (st, v) = parts(
        call(
            &app,
            Method::POST,
            "/v1/tokens",
            Some(&token),
            Some(json!({"name": "ci", "scopes": ["profile:read"]})),
        )
        .await?,
    )
    .await?;
    assert_eq!(st, 201, "{v}");
    let pat = bearer_header(v["token"].as_str().context("pat")?);
    let r = ws_open(
        &app.url,
        "/ws",
        ip,
        &[("origin", &o), ("authorization", &pat)],
    )
    .await?
    .err()
    .context("unscoped PAT accepted")?;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (403, Some("insufficient_scope"))
    );
    // No credentials: upgraded, but a first frame that is not a valid `auth` frame
    // closes it (1008), as does a wrong token, as does silence past the deadline.
    for first in [
        Some(Message::text("hello")),
        Some(Message::text(
            json!({"type": "auth", "token": "nope"}).to_string(),
        )),
        Some(Message::text(
            json!({"type": "subscribe", "token": token}).to_string(),
        )),
        None,
    ] {
        let mut ws = ws_ok(&app.url, ip, &[]).await?;
        if let Some(m) = first {
            ws.send(m).await?;
        }
        let (code, reason) = closed_with(&mut ws).await?;
        assert_eq!((code, reason.as_str()), (1008, "unauthenticated"));
    }
    assert_eq!(app.state.realtime.connections(), 0, "nothing registered");
    assert_eq!(app.state.realtime.connections_of(&alice), 0);
    Ok(())
}

async fn cookie_header_and_first_frame_authenticate(app: TestApp) -> Result<()> {
    let (alice, token) = bearer(&app, "wa_alice", Role::Customer).await?;
    let web = app
        .state
        .auth
        .start_web_session(&alice, &ctx())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let names = app.state.config.cookie_names();
    let cookie = format!("{}={}", names.session, web.cookie);
    let ip = "127.0.0.1";
    let mut by_cookie = ws_ok(&app.url, ip, &[("cookie", &cookie)]).await?;
    assert_eq!(
        next_event(&mut by_cookie).await?,
        json!({"type": "ready", "user_id": alice})
    );
    let mut by_header = ws_ok(&app.url, ip, &[("authorization", &bearer_header(&token))]).await?;
    assert_eq!(next_event(&mut by_header).await?["type"], "ready");
    let mut by_frame = ws_ok(&app.url, ip, &[]).await?;
    by_frame
        .send(Message::text(
            json!({"type": "auth", "token": token}).to_string(),
        ))
        .await?;
    assert_eq!(
        next_event(&mut by_frame).await?,
        json!({"type": "ready", "user_id": alice})
    );
    // A PAT with messages:read works in the first frame too.
    let (st, v) = parts(
        call(
            &app,
            Method::POST,
            "/v1/tokens",
            Some(&token),
            Some(json!({"name": "bot", "scopes": ["messages:read"]})),
        )
        .await?,
    )
    .await?;
    assert_eq!(st, 201, "{v}");
    let mut by_pat = ws_ok(&app.url, ip, &[]).await?;
    by_pat
        .send(Message::text(
            json!({"type": "auth", "token": v["token"]}).to_string(),
        ))
        .await?;
    assert_eq!(next_event(&mut by_pat).await?["type"], "ready");
    until_connected(&app, &alice, 4).await?;
    // A configured extra origin (WS_ALLOWED_ORIGINS) is not this app's: refused here.
    let r = ws_open(
        &app.url,
        "/ws",
        ip,
        &[("origin", "https://app.example"), ("cookie", &cookie)],
    )
    .await?
    .err()
    .context("unlisted origin accepted")?;
    assert_eq!(r.status, 403);
    Ok(())
}

/// Sends a text message over the API; returns its ID.
async fn send_text(app: &TestApp, token: &str, to: &str, text: &str) -> Result<String> {
    let (st, v) = parts(
        call(
            app,
            Method::POST,
            "/v1/messages",
            Some(token),
            Some(json!({"to": to, "content_type": "text/plain", "payload": text})),
        )
        .await?,
    )
    .await?;
    assert_eq!(st, 201, "{v}");
    Ok(v["id"].as_str().context("message id")?.to_owned())
}

async fn every_socket_of_a_recipient_gets_messages_receipts_and_ticket_replies(
    app: TestApp,
) -> Result<()> {
    let (alice, a) = bearer(&app, "wf_alice", Role::Customer).await?;
    let (bob, b) = bearer(&app, "wf_bob", Role::Customer).await?;
    let (_, carol) = bearer(&app, "wf_carol", Role::Customer).await?;
    let web = app
        .state
        .auth
        .start_web_session(&bob, &ctx())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let cookie = format!("{}={}", app.state.config.cookie_names().session, web.cookie);
    let ip = "127.0.0.1";
    let mut bob1 = ws_ok(&app.url, ip, &[("authorization", &bearer_header(&b))]).await?;
    let mut bob2 = ws_ok(&app.url, ip, &[("cookie", &cookie)]).await?;
    let mut alice1 = ws_ok(&app.url, ip, &[("authorization", &bearer_header(&a))]).await?;
    let mut carol1 = ws_ok(&app.url, ip, &[("authorization", &bearer_header(&carol))]).await?;
    for ws in [&mut bob1, &mut bob2, &mut alice1, &mut carol1] {
        assert_eq!(next_event(ws).await?["type"], "ready");
    }
    let id = send_text(&app, &a, "wf_bob", "hello over the wire").await?;
    for ws in [&mut bob1, &mut bob2, &mut alice1] {
        let e = next_of(ws, "message").await?;
        assert_eq!(e["message"]["id"], id.as_str());
        assert_eq!(e["message"]["payload"], "hello over the wire");
        assert_eq!(e["message"]["sender_id"], alice.as_str());
        assert_eq!(e["message"]["recipient_id"], bob.as_str());
    }
    // Bob reads: Alice hears the receipt (and Bob's own other socket).
    let conversation = {
        let (st, v) =
            parts(call(&app, Method::GET, "/v1/conversations", Some(&b), None).await?).await?;
        assert_eq!(st, 200, "{v}");
        v["conversations"][0]["id"]
            .as_str()
            .context("conversation")?
            .to_owned()
    };
    let (st, v) = parts(
        call(
            &app,
            Method::POST,
            &format!("/v1/conversations/{conversation}/read"),
            Some(&b),
            Some(json!({"up_to": id})),
        )
        .await?,
    )
    .await?;
    assert_eq!(st, 200, "{v}");
    for ws in [&mut alice1, &mut bob1, &mut bob2] {
        let e = next_of(ws, "read").await?;
        assert_eq!(e["reader_id"], bob.as_str());
        assert_eq!(e["up_to"], id.as_str());
        assert_eq!(e["conversation_id"], conversation.as_str());
    }
    // A large E2EE payload is announced without it (the client fetches it).
    let big = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        vec![7u8; 8 * 1024],
    );
    let (st, v) = parts(
        call(
            &app,
            Method::POST,
            "/v1/messages",
            Some(&a),
            Some(json!({"to": bob, "content_type": "application/vnd.rampart.e2ee+json", "payload": big})),
        )
        .await?,
    )
    .await?;
    assert_eq!(st, 201, "{v}");
    let e = next_of(&mut bob1, "message").await?;
    assert_eq!(e["message"]["payload_omitted"], true);
    assert!(e["message"].get("payload").is_none());
    // Ticket replies reach the ticket's author.
    let staff = crate::trust::staff_with_totp(&app, "wf_staff").await?;
    let (st, v) = parts(
        call(
            &app,
            Method::POST,
            "/v1/tickets",
            Some(&b),
            Some(json!({"subject": "Parcel", "body": "Where is it?"})),
        )
        .await?,
    )
    .await?;
    assert_eq!(st, 201, "{v}");
    let ticket = v["ticket"]["id"].as_str().context("ticket")?.to_owned();
    let (st, v) = parts(
        call(
            &app,
            Method::POST,
            &format!("/v1/tickets/{ticket}/messages"),
            Some(&staff),
            Some(json!({"body": "On its way."})),
        )
        .await?,
    )
    .await?;
    assert_eq!(st, 201, "{v}");
    for ws in [&mut bob1, &mut bob2] {
        let e = next_of(ws, "ticket_reply").await?;
        assert_eq!(e["ticket_id"], ticket.as_str());
        assert_eq!(e["side"], "staff");
    }
    // Carol, in none of it, heard nothing but her own ready frame.
    let quiet = tokio::time::timeout(Duration::from_millis(300), carol1.next()).await;
    assert!(
        !matches!(quiet, Ok(Some(Ok(Message::Text(_))))),
        "a bystander got an event: {quiet:?}"
    );
    Ok(())
}

async fn a_ban_closes_every_socket_and_a_revoked_session_its_own(app: TestApp) -> Result<()> {
    let (bob, b) = bearer(&app, "wb_bob", Role::Customer).await?;
    let s1 = app
        .state
        .auth
        .start_web_session(&bob, &ctx())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let s2 = app
        .state
        .auth
        .start_web_session(&bob, &ctx())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let name = app.state.config.cookie_names().session;
    let ip = "127.0.0.1";
    let mut w1 = ws_ok(
        &app.url,
        ip,
        &[("cookie", &format!("{name}={}", s1.cookie))],
    )
    .await?;
    let mut w2 = ws_ok(
        &app.url,
        ip,
        &[("cookie", &format!("{name}={}", s2.cookie))],
    )
    .await?;
    let mut w3 = ws_ok(&app.url, ip, &[("authorization", &bearer_header(&b))]).await?;
    for ws in [&mut w1, &mut w2, &mut w3] {
        assert_eq!(next_event(ws).await?["type"], "ready");
    }
    until_connected(&app, &bob, 3).await?;
    // Bob revokes session 1 from his device list (over the API): only its socket ends.
    let r = call(
        &app,
        Method::DELETE,
        &format!("/v1/sessions/{}", s1.session_id),
        Some(&b),
        None,
    )
    .await?;
    assert_eq!(r.status(), 204, "{}", r.text().await?);
    assert_eq!(closed_with(&mut w1).await?, (1008, "revoked".to_owned()));
    until_connected(&app, &bob, 2).await?;
    // The revoked cookie cannot open a new one.
    let r = ws_open(
        &app.url,
        "/ws",
        ip,
        &[
            ("origin", &origin(&app.url)),
            ("cookie", &format!("{name}={}", s1.cookie)),
        ],
    )
    .await?
    .err()
    .context("revoked cookie accepted")?;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (401, Some("token_revoked"))
    );
    // A ban closes everything else at once.
    app.state
        .auth
        .set_status(None, &bob, AccountStatus::Banned, &ctx())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(closed_with(&mut w2).await?, (1008, "revoked".to_owned()));
    assert_eq!(closed_with(&mut w3).await?, (1008, "revoked".to_owned()));
    until_connected(&app, &bob, 0).await?;
    let r = ws_open(
        &app.url,
        "/ws",
        ip,
        &[
            ("origin", &origin(&app.url)),
            ("authorization", &bearer_header(&b)),
        ],
    )
    .await?
    .err()
    .context("banned token accepted")?;
    assert_eq!(r.status, 401);
    Ok(())
}

/// B3/B4: `ws_handshake` per IP, exact: N accepted, the next refused with 429 and
/// every rate-limit header; another IP unaffected; the window moves on the injected
/// clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_limit_is_exact_per_ip() -> Result<()> {
    let app = TestApp::builder(Engine::Sqlite)
        .config(|c| {
            c.rate_limits.insert(
                "ws_handshake".into(),
                LimitOverride {
                    limit: 5,
                    window_secs: 60,
                },
            );
        })
        .spawn()
        .await?
        .context("sqlite")?;
    let (_, token) = bearer(&app, "wl_alice", Role::Customer).await?;
    let auth = bearer_header(&token);
    let ip = "127.31.0.1";
    let mut open = Vec::new();
    for i in 0..5 {
        let ws = ws_ok(&app.url, ip, &[("authorization", &auth)])
            .await
            .with_context(|| format!("handshake {i}"))?;
        open.push(ws);
    }
    let r = ws_open(
        &app.url,
        "/ws",
        ip,
        &[("origin", &origin(&app.url)), ("authorization", &auth)],
    )
    .await?
    .err()
    .context("sixth handshake accepted")?;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (429, Some("rate_limited"))
    );
    let h = |n: &str| {
        r.headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("missing {n}: {:?}", r.headers))
            .to_owned()
    };
    let retry: u64 = h("retry-after").parse()?;
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert!(h("ratelimit-policy").contains("\"ws_handshake\";q=5;w=60"));
    assert_eq!(h("ratelimit"), format!("\"ws_handshake\";r=0;t={retry}"));
    assert_eq!(h("x-ratelimit-limit"), "5");
    assert_eq!(h("x-ratelimit-remaining"), "0");
    // Refused attempts of any kind count too: a query or origin refusal is no way
    // around the limit.
    let r = ws_open(&app.url, "/ws?token=x", ip, &[])
        .await?
        .err()
        .context("accepted")?;
    assert_eq!(r.status, 429);
    // Another address has its own window.
    ws_ok(&app.url, "127.31.0.2", &[("authorization", &auth)]).await?;
    // After the window, on the injected clock.
    app.clock.advance_secs(61);
    ws_ok(&app.url, ip, &[("authorization", &auth)]).await?;
    Ok(())
}

/// A reader that stops reading is disconnected (1013) once its queue is full; the
/// server keeps no more than the queue bound for it, and its other sockets and
/// other users are unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_reader_is_disconnected_at_its_queue_bound() -> Result<()> {
    let app = TestApp::spawn(Engine::Sqlite).await?.context("sqlite")?;
    let (bob, b) = bearer(&app, "ws_bob", Role::Customer).await?;
    let carol = user(&app, "ws_carol").await?;
    let ip = "127.0.0.1";
    // Bob's socket is opened and never read again; its client takes little into its
    // own kernel buffer, so what piles up is the server's.
    let o = origin(&app.url);
    let auth = bearer_header(&b);
    let mut stalled = match ws_open_with(
        &app.url,
        "/ws",
        ip,
        &[("origin", &o), ("authorization", &auth)],
        Some(8 * 1024),
    )
    .await?
    {
        Ok(ws) => ws,
        Err(r) => bail!("handshake refused: {} {}", r.status, r.body),
    };
    assert_eq!(next_event(&mut stalled).await?["type"], "ready");
    until_connected(&app, &bob, 1).await?;
    let metric = || {
        app.state
            .metrics
            .render()
            .lines()
            .find(|l| l.starts_with("rampart_ws_closed_total{reason=\"too_slow\"}"))
            .map(|l| {
                l.rsplit(' ')
                    .next()
                    .unwrap_or("0")
                    .parse::<u64>()
                    .unwrap_or(0)
            })
            .unwrap_or(0)
    };
    assert_eq!(metric(), 0);
    // ~5 KB events; the server's kernel send buffer of an upgraded socket is small
    // (32 KiB asked, 64 KiB on Linux), so after a few dozen events the queue (256)
    // fills and the socket is dropped. 4 000 events is ~20 MB: far more than both.
    let filler = "x".repeat(5_000);
    let mut sent = 0;
    for i in 0..4_000 {
        app.state.realtime.publish(
            vec![bob.clone(), carol.clone()],
            json!({"type": "test", "n": i, "pad": filler}),
        );
        sent += 1;
        if app.state.realtime.connections_of(&bob) == 0 {
            break;
        }
        if i % 64 == 0 {
            tokio::task::yield_now().await;
        }
    }
    until_connected(&app, &bob, 0).await?;
    // The queue, the kernel buffers (a small send buffer: ~2.8 MB otherwise, i.e.
    // 500+ more events) and one frame in flight.
    assert!(
        sent < 256 + 100,
        "disconnected only after {sent} events (~{} KB)",
        sent * 5
    );
    assert_eq!(metric(), 1, "one too_slow close");
    // What it had queued is gone with it: a new socket starts fresh and hears new
    // events only.
    let mut fresh = ws_ok(&app.url, ip, &[("authorization", &bearer_header(&b))]).await?;
    assert_eq!(next_event(&mut fresh).await?["type"], "ready");
    app.state
        .realtime
        .publish(vec![bob.clone()], json!({"type": "test", "n": "after"}));
    assert_eq!(next_event(&mut fresh).await?["n"], "after");
    // The stalled client, reading at last, finds the server closed on it: whatever
    // the kernel had buffered, then the end (with or without the 1013 frame, which
    // could not be written into a full buffer).
    let mut frames = 0usize;
    let end = loop {
        match tokio::time::timeout(Duration::from_secs(10), stalled.next()).await {
            Ok(Some(Ok(Message::Close(f)))) => break f.map(|f| f.code),
            Ok(Some(Ok(_))) => frames += 1,
            Ok(Some(Err(_))) | Ok(None) => break None,
            Err(_) => bail!("the stalled socket is still open after {frames} frames"),
        }
    };
    assert!(
        frames < sent,
        "{frames} of {sent} frames reached the stalled client"
    );
    if let Some(code) = end {
        assert_eq!(code, CloseCode::Again);
    }
    Ok(())
}

/// Two real server processes on one PostgreSQL database: a message sent over HTTP to
/// the in-process server A reaches a socket on the `rampart serve` process B (through
/// LISTEN/NOTIFY), and a ban made on A closes the user's socket on B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_deliver_and_close_across_postgres() -> Result<()> {
    let Some(a_app) = TestApp::spawn(Engine::Postgres).await? else {
        return Ok(());
    };
    let b_srv = crate::ws_process::ServeProcess::start(&a_app).await?;
    let (alice, ta) = bearer(&a_app, "wx_alice", Role::Customer).await?;
    let (bob, tb) = bearer(&a_app, "wx_bob", Role::Customer).await?;
    // Bob's socket is on B; Alice's on A.
    let mut on_b = ws_ok(
        &b_srv.url,
        "127.0.0.1",
        &[("authorization", &bearer_header(&tb))],
    )
    .await?;
    assert_eq!(next_event(&mut on_b).await?["user_id"], bob.as_str());
    let mut on_a = ws_ok(
        &a_app.url,
        "127.0.0.1",
        &[("authorization", &bearer_header(&ta))],
    )
    .await?;
    assert_eq!(next_event(&mut on_a).await?["user_id"], alice.as_str());
    let id = send_text(&a_app, &ta, "wx_bob", "across instances").await?;
    let e = next_of(&mut on_b, "message").await.context(b_srv.logs())?;
    assert_eq!(e["message"]["id"], id.as_str());
    assert_eq!(e["message"]["payload"], "across instances");
    // And back: Bob reads through B, Alice's socket on A hears the receipt.
    let (st, v) = parts(
        b_srv
            .client()
            .get(format!("{}/v1/conversations", b_srv.url))
            .bearer_auth(&tb)
            .send()
            .await?,
    )
    .await?;
    assert_eq!(st, 200, "{v}");
    let conversation = v["conversations"][0]["id"]
        .as_str()
        .context("conversation")?
        .to_owned();
    let (st, v) = parts(
        b_srv
            .client()
            .post(format!(
                "{}/v1/conversations/{conversation}/read",
                b_srv.url
            ))
            .bearer_auth(&tb)
            .json(&json!({"up_to": id}))
            .send()
            .await?,
    )
    .await?;
    assert_eq!(st, 200, "{v}");
    assert_eq!(next_of(&mut on_a, "read").await?["reader_id"], bob.as_str());
    // A ban on A closes Bob's socket on B at once.
    a_app
        .state
        .auth
        .set_status(None, &bob, AccountStatus::Banned, &ctx())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(
        closed_with(&mut on_b).await.context(b_srv.logs())?,
        (1008, "revoked".to_owned())
    );
    drop(b_srv);
    Ok(())
}

/// Two server processes on one SQLite file (unsupported for real time, and the
/// second says so at startup): there is no bus, yet a logout made through the other
/// process closes this process's socket at its next sweep, which re-reads every
/// socket's credential from the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_by_another_sqlite_process_closes_at_the_next_sweep() -> Result<()> {
    use rampart_web::realtime::bus;
    let app = TestApp::spawn(Engine::Sqlite).await?.context("sqlite")?;
    let other = crate::ws_process::ServeProcess::start(&app).await?;
    let (bob, tb) = bearer(&app, "wq_bob", Role::Customer).await?;
    let (carol, tc) = bearer(&app, "wq_carol", Role::Customer).await?;
    let mut ws = ws_ok(
        &app.url,
        "127.0.0.1",
        &[("authorization", &bearer_header(&tb))],
    )
    .await?;
    assert_eq!(next_event(&mut ws).await?["type"], "ready");
    let mut kept = ws_ok(
        &app.url,
        "127.0.0.1",
        &[("authorization", &bearer_header(&tc))],
    )
    .await?;
    assert_eq!(next_event(&mut kept).await?["type"], "ready");
    until_connected(&app, &bob, 1).await?;
    until_connected(&app, &carol, 1).await?;
    // Nothing revoked: a sweep keeps both.
    assert_eq!(bus::sweep(&app.state).await, 0);
    assert_eq!(app.state.realtime.connections(), 2);
    // Bob logs out through the other process; this one hears nothing of it.
    let r = other
        .client()
        .post(format!("{}/v1/auth/logout", other.url))
        .bearer_auth(&tb)
        .send()
        .await?;
    assert_eq!(r.status(), 204, "{}", other.logs());
    // The next sweep finds the session revoked in the database (the periodic one
    // may have run meanwhile: either way the socket is closed once, `revoked`).
    let n = bus::sweep(&app.state).await;
    assert!(n <= 1, "{n} closed");
    assert_eq!(closed_with(&mut ws).await?, (1008, "revoked".to_owned()));
    until_connected(&app, &bob, 0).await?;
    // Carol's socket, whose session lives, stays.
    assert_eq!(app.state.realtime.connections_of(&carol), 1);
    assert_eq!(bus::sweep(&app.state).await, 0);
    // The second process warned that this topology is unsupported for real time.
    assert!(
        other.out().contains("no bus between processes"),
        "no warning: {}",
        other.out()
    );
    drop(other);
    Ok(())
}

/// A socket lives as long as its credential: past the session's expiry on the
/// injected clock, the sweep closes it (1008 `expired`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_ends_with_its_session() -> Result<()> {
    let app = TestApp::spawn(Engine::Sqlite).await?.context("sqlite")?;
    let bob = user(&app, "we_bob").await?;
    let web = app
        .state
        .auth
        .start_web_session(&bob, &ctx())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let cookie = format!("{}={}", app.state.config.cookie_names().session, web.cookie);
    let mut ws = ws_ok(&app.url, "127.0.0.1", &[("cookie", &cookie)]).await?;
    assert_eq!(next_event(&mut ws).await?["type"], "ready");
    until_connected(&app, &bob, 1).await?;
    use rampart_kernel::Clock;
    assert_eq!(
        app.state.realtime.sweep(app.clock.now_ms()),
        0,
        "still valid"
    );
    // Past the absolute lifetime of a web session (and its idle timeout).
    app.clock.advance_secs(40 * 24 * 3600);
    assert_eq!(app.state.realtime.sweep(app.clock.now_ms()), 1);
    assert_eq!(closed_with(&mut ws).await?, (1008, "expired".to_owned()));
    until_connected(&app, &bob, 0).await?;
    Ok(())
}
