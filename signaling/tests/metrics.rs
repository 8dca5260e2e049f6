//! `/metrics`: Prometheus text format, and counters that follow what happens.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{prometheus::Scrape, start, ROOM};
use signaling::{protocol::ErrorCode, Config};

const NS: &str = "meshboard_signaling_";

fn name(short: &str) -> String {
    format!("{NS}{short}")
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_every_family() {
    let server = start(Config::default()).await;
    let scrape = server.metrics().await;
    for (family, ty) in [
        ("connections_open", "gauge"),
        ("connections_accepted_total", "counter"),
        ("connections_refused_total", "counter"),
        ("connections_closed_total", "counter"),
        ("rooms", "gauge"),
        ("peers", "gauge"),
        ("messages_relayed_total", "counter"),
        ("messages_rejected_total", "counter"),
        ("received_bytes_total", "counter"),
        ("sent_bytes_total", "counter"),
        ("uptime_seconds", "gauge"),
    ] {
        assert_eq!(
            scrape.types.get(&name(family)).map(String::as_str),
            Some(ty),
            "{family}"
        );
    }
    // Labelled counters start at zero for every reason.
    for code in ErrorCode::ALL {
        assert_eq!(
            scrape.value(
                &name("messages_rejected_total"),
                &[("reason", code.as_str())]
            ),
            0.0
        );
    }
    assert_eq!(scrape.value(&name("connections_open"), &[]), 0.0);
    assert!(scrape.value(&name("uptime_seconds"), &[]) >= 0.0);
}

#[tokio::test]
async fn counters_move_with_relayed_and_rejected_messages() {
    let server = start(Config {
        max_message_bytes: 1024,
        ..Config::default()
    })
    .await;
    let before = server.metrics().await;
    let (mut a, _) = server.joined(ROOM).await;
    let (mut b, _) = server.joined(ROOM).await;
    a.recv().await; // b joined
    for i in 0..3 {
        a.signal(&b.id, &format!("hello {i}")).await;
        b.recv().await;
    }
    a.send_text("{not json").await;
    a.expect_error(ErrorCode::BadMessage).await;
    a.signal(&b.id, &"x".repeat(1500)).await;
    a.expect_error(ErrorCode::TooLarge).await;
    a.signal("nobody", "x").await;
    a.expect_error(ErrorCode::UnknownPeer).await;

    let after = server.metrics().await;
    let delta = |family: &str, labels: &[(&str, &str)]| {
        after.value(&name(family), labels) - before.value(&name(family), labels)
    };
    assert_eq!(delta("messages_relayed_total", &[]), 3.0);
    for (reason, n) in [
        ("bad_message", 1.0),
        ("too_large", 1.0),
        ("unknown_peer", 1.0),
        ("rate_limited", 0.0),
    ] {
        assert_eq!(
            delta("messages_rejected_total", &[("reason", reason)]),
            n,
            "{reason}"
        );
    }
    assert_eq!(after.value(&name("connections_open"), &[]), 2.0);
    assert_eq!(delta("connections_accepted_total", &[]), 2.0);
    assert_eq!(after.value(&name("rooms"), &[]), 1.0);
    assert_eq!(after.value(&name("peers"), &[]), 2.0);
    // Joins, 3 signals, garbage, 1500 bytes and more in; welcomes, signals, errors out.
    assert!(delta("received_bytes_total", &[]) > 1500.0 + 3.0 * 30.0);
    assert!(delta("sent_bytes_total", &[]) > 3.0 * 30.0);
}

#[tokio::test]
async fn ended_connections_are_counted_by_reason() {
    let server = start(Config::default()).await;
    let (mut a, _) = server.joined(ROOM).await;
    let mut abuser = server.client().await;
    for _ in 0..signaling::connection::MAX_ERRORS {
        abuser.send_binary(vec![0xde, 0xad]).await;
    }
    for _ in 0..signaling::connection::MAX_ERRORS {
        abuser.expect_error(ErrorCode::BadMessage).await;
    }
    abuser.expect_close().await;
    a.ws.close(None).await.unwrap();
    let closed = |s: &Scrape, reason: &str| {
        s.value(&name("connections_closed_total"), &[("reason", reason)])
    };
    let scrape = server
        .metrics_until("both connections counted as closed", |s| {
            closed(s, "too_many_errors") == 1.0 && closed(s, "client") == 1.0
        })
        .await;
    assert_eq!(scrape.value(&name("connections_open"), &[]), 0.0);
    assert_eq!(scrape.value(&name("rooms"), &[]), 0.0);
    assert_eq!(scrape.value(&name("peers"), &[]), 0.0);
    assert_eq!(
        scrape.value(
            &name("messages_rejected_total"),
            &[("reason", "bad_message")]
        ),
        f64::from(signaling::connection::MAX_ERRORS)
    );
}

#[test]
fn reader_accepts_good_and_refuses_bad_text() {
    let good = "# HELP x_total Things.\n# TYPE x_total counter\nx_total{a=\"1\",b=\"q\\\"\"} 3\n\
                # HELP g A gauge.\n# TYPE g gauge\ng 1.5e3\n";
    let s = Scrape::parse(good).unwrap();
    assert_eq!(s.value("x_total", &[("a", "1"), ("b", "q\"")]), 3.0);
    assert_eq!(s.value("g", &[]), 1500.0);
    for bad in [
        "g 1\n",
        "# TYPE g gauge\ng 1\n",
        "# HELP g x\n# TYPE g gauge\ng{a=1} 1\n",
        "# HELP g x\n# TYPE g gauge\ng one\n",
        "# HELP g x\n# TYPE g gauge\n9g 1\n",
        "# HELP g x\n# TYPE g sometype\ng 1\n",
    ] {
        assert!(Scrape::parse(bad).is_err(), "{bad}");
    }
}
