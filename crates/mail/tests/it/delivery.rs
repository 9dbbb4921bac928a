//! Delivery to a real SMTP server (aiosmtpd started per test): what arrives, retries
//! with backoff on a driven clock, permanent refusals, exactly-once across two
//! deliverers, and the TLS modes (STARTTLS required, implicit TLS, private CA, AUTH).

use crate::both_engines;
use crate::support::{python, Certs, ServerOpts, SmtpServer, TestDb};
use anyhow::Result;
use rampart_kernel::ManualClock;
use rampart_mail::outbox::{self, NewMail};
use rampart_mail::smtp::{SmtpConfig, SmtpMailer, SmtpPassword, TlsMode};
use rampart_mail::{render, Deliverer, DeliveryConfig, Lang, MailKind, Round};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

const T0: i64 = 1_704_067_200_000;
const FROM: &str = "Rampart <noreply@rampart.test>";

fn plain(server: &SmtpServer) -> Result<SmtpConfig> {
    let mut c = SmtpConfig::from_url(
        &format!("smtp://127.0.0.1:{}?starttls=never", server.port),
        FROM,
    )?;
    c.timeout = Duration::from_secs(10);
    c.send_timeout = Duration::from_secs(20);
    Ok(c)
}

fn deliverer(t: &TestDb, cfg: &SmtpConfig, clock: &ManualClock) -> Result<Deliverer<SmtpMailer>> {
    deliverer_on(t.db.clone(), cfg, clock, DeliveryConfig::default())
}

fn deliverer_on(
    db: rampart_db::Db,
    cfg: &SmtpConfig,
    clock: &ManualClock,
    dc: DeliveryConfig,
) -> Result<Deliverer<SmtpMailer>> {
    Ok(Deliverer::new(
        db,
        SmtpMailer::new(cfg)?,
        Arc::new(clock.clone()),
        dc,
    ))
}

fn simple(to: &str) -> NewMail<'_> {
    NewMail {
        recipient: to,
        kind: "new_device",
        subject: "New sign-in to your account",
        body: "hello",
    }
}

async fn queued_mail_arrives_with_its_headers_and_body(t: &TestDb) -> Result<()> {
    let Some(py) = python("queued_mail_arrives") else {
        return Ok(());
    };
    let server = SmtpServer::start(&py, ServerOpts::default())?;
    let clock = ManualClock::new(T0);
    let r = render(
        &MailKind::PasswordReset {
            username: "mari".into(),
            link: "https://rampart.test/reset?token=rrt_abc".into(),
            valid_minutes: 30,
        },
        Lang::Et,
    );
    let id = outbox::enqueue(&t.db, NewMail::rendered("mari@example.ee", &r), T0).await?;
    let d = deliverer(t, &plain(&server)?, &clock)?;
    clock.advance_ms(5);
    let round = d.run_once().await?;
    assert_eq!(
        round,
        Round {
            claimed: 1,
            sent: 1,
            ..Round::default()
        }
    );
    let got = server.received()?;
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(m["mail_from"], "noreply@rampart.test");
    assert_eq!(m["rcpt_tos"], serde_json::json!(["mari@example.ee"]));
    assert_eq!(m["from"], FROM);
    assert_eq!(m["to"], "mari@example.ee");
    assert_eq!(m["subject"], r.subject.as_str());
    assert_eq!(m["message_id"], format!("<{id}@rampart.test>"));
    assert_eq!(m["content_type"], "text/plain");
    assert_eq!(m["charset"], "utf-8");
    assert_eq!(m["tls"], false);
    let body = m["body"].as_str().unwrap_or_default().replace("\r\n", "\n");
    assert_eq!(body.trim_end(), r.body);
    let e = outbox::get(&t.db, &id).await?.unwrap();
    assert_eq!(
        (e.status.as_str(), e.attempts, e.sent_at, e.last_error),
        ("sent", 1, Some(T0 + 5), None)
    );
    // Sent is final: nothing is claimed again, however late.
    clock.advance_secs(86_400 * 30);
    assert_eq!(d.run_once().await?.claimed, 0);
    assert_eq!(server.received()?.len(), 1);
    Ok(())
}

async fn a_4xx_is_retried_with_backoff_and_sent_once(t: &TestDb) -> Result<()> {
    let Some(py) = python("4xx_retried") else {
        return Ok(());
    };
    let server = SmtpServer::start(
        &py,
        ServerOpts {
            tempfail: 2,
            ..ServerOpts::default()
        },
    )?;
    let clock = ManualClock::new(T0);
    let id = outbox::enqueue(&t.db, simple("retry@example.org"), T0).await?;
    let d = deliverer(t, &plain(&server)?, &clock)?;

    assert_eq!(d.run_once().await?.retried, 1);
    let e = outbox::get(&t.db, &id).await?.unwrap();
    assert_eq!((e.status.as_str(), e.attempts), ("queued", 1));
    assert!(e.last_error.unwrap_or_default().contains("451"));
    // First retry 15–30 s later (30 s base, equal jitter).
    let wait = e.next_attempt_at - T0;
    assert!((15_000..=30_000).contains(&wait), "{wait}");
    // Not due yet: nothing happens.
    clock.set_ms(e.next_attempt_at - 1);
    assert_eq!(d.run_once().await?.claimed, 0);

    clock.set_ms(e.next_attempt_at);
    assert_eq!(d.run_once().await?.retried, 1);
    let e2 = outbox::get(&t.db, &id).await?.unwrap();
    assert_eq!(e2.attempts, 2);
    let wait = e2.next_attempt_at - e.next_attempt_at;
    assert!((30_000..=60_000).contains(&wait), "{wait}");

    clock.set_ms(e2.next_attempt_at);
    assert_eq!(d.run_once().await?.sent, 1);
    let e3 = outbox::get(&t.db, &id).await?.unwrap();
    assert_eq!((e3.status.as_str(), e3.attempts), ("sent", 3));
    assert_eq!(e3.last_error, None);
    clock.advance_secs(3600);
    assert_eq!(d.run_once().await?.claimed, 0);
    assert_eq!(server.received()?.len(), 1);
    Ok(())
}

async fn a_5xx_fails_the_mail_for_good(t: &TestDb) -> Result<()> {
    let Some(py) = python("5xx_fails") else {
        return Ok(());
    };
    let server = SmtpServer::start(
        &py,
        ServerOpts {
            reject_rcpt: Some("nobody"),
            ..ServerOpts::default()
        },
    )?;
    let clock = ManualClock::new(T0);
    let bad = outbox::enqueue(&t.db, simple("nobody@example.org"), T0).await?;
    let good = outbox::enqueue(&t.db, simple("somebody@example.org"), T0).await?;
    let d = deliverer(t, &plain(&server)?, &clock)?;
    let round = d.run_once().await?;
    assert_eq!((round.failed, round.sent), (1, 1));
    let e = outbox::get(&t.db, &bad).await?.unwrap();
    assert_eq!((e.status.as_str(), e.attempts), ("failed", 1));
    assert!(e.last_error.unwrap_or_default().contains("550"));
    assert_eq!(outbox::get(&t.db, &good).await?.unwrap().status, "sent");
    clock.advance_secs(7 * 86_400);
    assert_eq!(d.run_once().await?.claimed, 0);
    let got = server.received()?;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["to"], "somebody@example.org");
    Ok(())
}

async fn retries_stop_at_max_attempts(t: &TestDb) -> Result<()> {
    let Some(py) = python("max_attempts") else {
        return Ok(());
    };
    let server = SmtpServer::start(
        &py,
        ServerOpts {
            tempfail: 1000,
            ..ServerOpts::default()
        },
    )?;
    let clock = ManualClock::new(T0);
    let id = outbox::enqueue(&t.db, simple("flaky@example.org"), T0).await?;
    let d = deliverer_on(
        t.db.clone(),
        &plain(&server)?,
        &clock,
        DeliveryConfig {
            max_attempts: 3,
            ..DeliveryConfig::default()
        },
    )?;
    let mut rounds = Vec::new();
    for _ in 0..6 {
        rounds.push(d.run_once().await?);
        clock.advance_secs(3600);
    }
    assert_eq!(rounds.iter().map(|r| r.retried).sum::<usize>(), 2);
    assert_eq!(rounds.iter().map(|r| r.dead).sum::<usize>(), 1);
    assert_eq!(rounds.iter().map(|r| r.claimed).sum::<usize>(), 3);
    let e = outbox::get(&t.db, &id).await?.unwrap();
    assert_eq!((e.status.as_str(), e.attempts), ("dead", 3));
    assert!(server.received()?.is_empty());
    Ok(())
}

async fn two_deliverers_send_each_mail_exactly_once(t: &TestDb) -> Result<()> {
    let Some(py) = python("two_deliverers") else {
        return Ok(());
    };
    let server = SmtpServer::start(&py, ServerOpts::default())?;
    let clock = ManualClock::new(T0);
    let mut ids = BTreeSet::new();
    for i in 0..24 {
        let to = format!("user{i}@example.org");
        ids.insert(outbox::enqueue(&t.db, simple(&to), T0).await?);
    }
    // Two "processes": separate connection pools on the same database.
    let (db_a, db_b) = (t.reopen().await?, t.reopen().await?);
    let dc = DeliveryConfig {
        batch: 3,
        ..DeliveryConfig::default()
    };
    let a = deliverer_on(db_a.clone(), &plain(&server)?, &clock, dc.clone())?;
    let b = deliverer_on(db_b.clone(), &plain(&server)?, &clock, dc)?;
    // A round may claim nothing while the other holds rows (PostgreSQL re-checks rows
    // the other just claimed and drops them after LIMIT), so drain until none is queued.
    let drain = |d: Deliverer<SmtpMailer>, db: rampart_db::Db| async move {
        let mut sent = 0;
        loop {
            let r = d.run_once().await?;
            sent += r.sent;
            let queued = outbox::counts(&db)
                .await?
                .iter()
                .any(|(s, n)| s == "queued" && *n > 0);
            if r.claimed == 0 && !queued {
                return anyhow::Ok(sent);
            }
        }
    };
    let (sa, sb) = tokio::try_join!(
        tokio::spawn(drain(a, db_a.clone())),
        tokio::spawn(drain(b, db_b.clone()))
    )?;
    let (sa, sb) = (sa?, sb?);
    assert_eq!(sa + sb, 24);
    assert!(sa > 0 && sb > 0, "both took part: {sa} + {sb}");
    let got = server.received()?;
    assert_eq!(got.len(), 24);
    let seen: BTreeSet<String> = got
        .iter()
        .map(|m| {
            m["message_id"]
                .as_str()
                .unwrap_or_default()
                .trim_start_matches('<')
                .trim_end_matches("@rampart.test>")
                .to_owned()
        })
        .collect();
    assert_eq!(seen, ids);
    for id in &ids {
        let e = outbox::get(&t.db, id).await?.unwrap();
        assert_eq!((e.status.as_str(), e.attempts), ("sent", 1));
    }
    db_a.close().await;
    db_b.close().await;
    Ok(())
}

async fn the_background_loop_delivers_without_being_asked(t: &TestDb) -> Result<()> {
    let Some(py) = python("background_loop") else {
        return Ok(());
    };
    let server = SmtpServer::start(&py, ServerOpts::default())?;
    let clock = ManualClock::new(T0);
    let task = deliverer_on(
        t.db.clone(),
        &plain(&server)?,
        &clock,
        DeliveryConfig {
            poll_interval: Duration::from_millis(20),
            ..DeliveryConfig::default()
        },
    )?
    .spawn();
    let id = outbox::enqueue(&t.db, simple("bg@example.org"), T0).await?;
    for _ in 0..250 {
        if outbox::get(&t.db, &id).await?.unwrap().status == "sent" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    task.abort();
    assert_eq!(outbox::get(&t.db, &id).await?.unwrap().status, "sent");
    assert_eq!(server.received()?.len(), 1);
    Ok(())
}

both_engines!(
    queued_mail_arrives_with_its_headers_and_body,
    a_4xx_is_retried_with_backoff_and_sent_once,
    a_5xx_fails_the_mail_for_good,
    retries_stop_at_max_attempts,
    two_deliverers_send_each_mail_exactly_once,
    the_background_loop_delivers_without_being_asked,
);

// TLS: the engine does not matter here, so SQLite only.

fn tls_config(server: &SmtpServer, scheme: &str, certs: Option<&Certs>) -> Result<SmtpConfig> {
    let mut c = SmtpConfig::from_url(&format!("{scheme}://127.0.0.1:{}", server.port), FROM)?;
    c.ca_file = certs.map(|c| c.ca.clone());
    c.timeout = Duration::from_secs(10);
    c.send_timeout = Duration::from_secs(20);
    Ok(c)
}

async fn one_round(cfg: &SmtpConfig) -> Result<(TestDb, String, Round)> {
    let t = TestDb::sqlite().await?;
    let clock = ManualClock::new(T0);
    let id = outbox::enqueue(&t.db, simple("tls@example.org"), T0).await?;
    let round = deliverer(&t, cfg, &clock)?.run_once().await?;
    Ok((t, id, round))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_with_auth_trusts_the_configured_private_ca() -> Result<()> {
    let Some(py) = python("starttls_auth") else {
        return Ok(());
    };
    let certs = Certs::generate()?;
    let server = SmtpServer::start(
        &py,
        ServerOpts {
            mode: "starttls",
            certs: Some(&certs),
            auth: Some("mailer:s3cret pass"),
            ..ServerOpts::default()
        },
    )?;
    let mut cfg = tls_config(&server, "smtp", Some(&certs))?;
    assert_eq!(cfg.tls, TlsMode::StartTls);
    cfg.username = Some("mailer".into());
    cfg.password = Some(SmtpPassword::new("s3cret pass"));
    let (t, _, round) = one_round(&cfg).await?;
    assert_eq!(round.sent, 1, "{round:?}");
    let got = server.received()?;
    assert_eq!(got.len(), 1);
    assert_eq!(
        (&got[0]["tls"], &got[0]["auth"]),
        (&true.into(), &true.into())
    );
    t.close().await;

    // A wrong password is a configuration problem: retried later, never dropped.
    cfg.password = Some(SmtpPassword::new("wrong"));
    let (t, id, round) = one_round(&cfg).await?;
    assert_eq!(round.retried, 1, "{round:?}");
    let e = outbox::get(&t.db, &id).await?.unwrap();
    assert_eq!(e.status, "queued");
    assert!(!e.last_error.unwrap_or_default().contains("wrong"));
    assert_eq!(server.received()?.len(), 1);
    t.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_required_sends_nothing_to_a_server_without_it() -> Result<()> {
    let Some(py) = python("starttls_required") else {
        return Ok(());
    };
    let server = SmtpServer::start(&py, ServerOpts::default())?;
    let cfg = tls_config(&server, "smtp", None)?;
    assert_eq!(cfg.tls, TlsMode::StartTls);
    let (t, id, round) = one_round(&cfg).await?;
    assert_eq!(round.retried, 1, "{round:?}");
    assert!(server.received()?.is_empty());
    let e = outbox::get(&t.db, &id).await?.unwrap();
    assert_eq!((e.status.as_str(), e.sent_at), ("queued", None));
    t.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_is_refused() -> Result<()> {
    let Some(py) = python("untrusted_cert") else {
        return Ok(());
    };
    let certs = Certs::generate()?;
    let server = SmtpServer::start(
        &py,
        ServerOpts {
            mode: "starttls",
            certs: Some(&certs),
            ..ServerOpts::default()
        },
    )?;
    let (t, _, round) = one_round(&tls_config(&server, "smtp", None)?).await?;
    assert_eq!(round.retried, 1, "{round:?}");
    assert!(server.received()?.is_empty());
    t.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_with_auth() -> Result<()> {
    let Some(py) = python("implicit_tls") else {
        return Ok(());
    };
    let certs = Certs::generate()?;
    let server = SmtpServer::start(
        &py,
        ServerOpts {
            mode: "smtps",
            certs: Some(&certs),
            auth: Some("mailer:pw"),
            ..ServerOpts::default()
        },
    )?;
    let mut cfg = tls_config(&server, "smtps", Some(&certs))?;
    assert_eq!(cfg.tls, TlsMode::Implicit);
    cfg.username = Some("mailer".into());
    cfg.password = Some(SmtpPassword::new("pw"));
    let (t, _, round) = one_round(&cfg).await?;
    assert_eq!(round.sent, 1, "{round:?}");
    let got = server.received()?;
    assert_eq!(
        (&got[0]["tls"], &got[0]["auth"]),
        (&true.into(), &true.into())
    );
    t.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_stops_answering_does_not_hold_the_deliverer() -> Result<()> {
    let Some(py) = python("hanging_relay") else {
        return Ok(());
    };
    let server = SmtpServer::start(
        &py,
        ServerOpts {
            hang: true,
            ..ServerOpts::default()
        },
    )?;
    let mut cfg = plain(&server)?;
    cfg.send_timeout = Duration::from_millis(500);
    let started = std::time::Instant::now();
    let (t, id, round) = one_round(&cfg).await?;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(round.retried, 1, "{round:?}");
    let e = outbox::get(&t.db, &id).await?.unwrap();
    assert_eq!(e.status, "queued");
    assert!(e.last_error.unwrap_or_default().contains("no answer"));
    t.close().await;
    Ok(())
}
