//! Dual-stack by default: `rill download` on its default peer listener
//! (`[::]:6881`, no `--listen`), in a network namespace of its own (the
//! house rule for rill on unspecified addresses), downloads one torrent
//! from two aria2c seeders: one on 127.0.0.1, one on `[::1]`, each upload
//! limited so neither can send it all alone in the time the other takes.
//! Asserted: byte-identical, rill's log shows one listener on `[::]:6881`
//! and outgoing connections to both seeders (the IPv4 one written as
//! IPv4), and each seeder's own counter (aria2's `uploadLength` over its
//! JSON-RPC) shows it uploaded part of the torrent.
//!
//! Needs root (a network namespace), aria2, curl, mktorrent; without root
//! it says so and passes (nothing to test).

use rill_testkit as support;

use std::time::Duration;

use support::netns::{tag, Netns};
use support::proc::{is_root, Proc};
use support::{data, json_field, run_tool, TestEnv};

const LEN: u64 = 4 * 1024 * 1024 + 333;

#[test]
fn default_listener_takes_an_ipv4_and_an_ipv6_seeder() {
    if !is_root() {
        eprintln!("SKIPPED: the dual-stack test needs root for a network namespace");
        return;
    }
    let env = TestEnv::new("dualstack");
    let content = env.path("src/dual.bin");
    data::write_random_file(&content, LEN, 21);
    let name = "dual.bin";
    let torrent = env.path("dual.torrent");
    support::torrent::mktorrent(&content, &torrent, 15, None);
    let ns = Netns::new(&env, format!("peersds{}", tag()));
    if ns
        .ip(&env, &["-6", "addr", "show", "dev", "lo"])
        .trim()
        .is_empty()
    {
        env.fail("the namespace's lo has no ::1 (IPv6 off on this host?)");
    }

    let t = torrent.to_string_lossy().into_owned();
    let seeders = [("127.0.0.1", 7001u16, 7101u16), ("::1", 7002, 7102)];
    let mut procs = Vec::new();
    for (i, (ip, port, rpc)) in seeders.iter().enumerate() {
        let dir = env.mkdir(&format!("seed{i}"));
        data::copy_tree(&content, &dir.join(name));
        let mut args = vec![
            "aria2c".to_string(),
            "--enable-dht=false".into(),
            "--enable-dht6=false".into(),
            "--bt-enable-lpd=false".into(),
            "--enable-peer-exchange=false".into(),
            "--file-allocation=none".into(),
            "--summary-interval=0".into(),
            "--console-log-level=notice".into(),
            "--show-console-readout=false".into(),
            format!("--interface={ip}"),
            format!("--listen-port={port}"),
            format!("--dir={}", dir.display()),
            "--seed-ratio=0".into(),
            "--enable-rpc=true".into(),
            format!("--rpc-listen-port={rpc}"),
            "-V".into(),
            // About 2.5 s each for the whole file: both are needed.
            "--max-upload-limit=1600K".into(),
        ];
        if ip.contains('.') {
            args.push("--disable-ipv6=true".into());
        }
        args.push(t.clone());
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        procs.push(Proc::spawn(
            &env,
            &format!("aria2-{i}"),
            &mut ns.exec(&argv),
        ));
    }
    let rpc = |port: u16, method: &str| {
        let body = format!(r#"{{"jsonrpc":"2.0","id":"t","method":"{method}","params":[]}}"#);
        let url = format!("http://127.0.0.1:{port}/jsonrpc");
        let argv = [
            "curl",
            "-sS",
            "--fail",
            "--max-time",
            "5",
            "-d",
            &body,
            &url,
        ];
        run_tool(&mut ns.exec(&argv), Duration::from_secs(10))
    };
    for (i, (ip, port, rpc_port)) in seeders.iter().enumerate() {
        env.wait_until(
            &format!("aria2-{i} to seed"),
            Duration::from_secs(60),
            || {
                procs[i].check_alive()?;
                let seeding = rpc(*rpc_port, "aria2.tellActive")
                    .is_ok_and(|a| json_field(&a, "seeder") == Some("true"));
                let listening = run_tool(
                    &mut ns.exec(&[
                        "sh",
                        "-c",
                        &format!("ss -ltnH | grep -q '{ip}\\]*:{port} '"),
                    ]),
                    Duration::from_secs(5),
                )
                .is_ok();
                Ok(seeding && listening)
            },
        );
    }

    let out = env.mkdir("out");
    let (v4, v6) = ("127.0.0.1:7001", "[::1]:7002");
    let bin = support::rill::bin().to_string_lossy().into_owned();
    let o = out.to_string_lossy().into_owned();
    let mut rill = Proc::spawn(
        &env,
        "rill",
        &mut ns.exec(&[
            "env",
            "RILL_LOG=debug",
            &bin,
            "download",
            &t,
            "--out",
            &o,
            "--peer",
            v4,
            "--peer",
            v6,
            "--no-dht",
        ]),
    );
    env.wait_until("rill to finish", Duration::from_secs(60), || {
        if let Some(status) = rill.try_exit() {
            return if status.success() {
                Ok(true)
            } else {
                Err(format!("rill exited with {status}"))
            };
        }
        Ok(false)
    });
    if !rill
        .stdout()
        .starts_with(&format!("done: {name}: {LEN} bytes from peers"))
    {
        env.fail(&format!("unexpected done line {:?}", rill.stdout()));
    }
    if let Err(e) = data::diff_trees(&content, &out.join(name)) {
        env.fail(&e);
    }
    let log = rill.stderr();
    if !log.contains("listening for peers on [::]:6881") {
        env.fail("rill did not listen on [::]:6881 (its default)");
    }
    for peer in [v4, v6] {
        if !log.contains(&format!("{peer}: connected (outgoing")) {
            env.fail(&format!("rill's log shows no connection to {peer}"));
        }
    }
    let mut total = 0;
    for (i, (_, _, rpc_port)) in seeders.iter().enumerate() {
        let up = rpc(*rpc_port, "aria2.tellActive")
            .ok()
            .and_then(|a| json_field(&a, "uploadLength").and_then(|v| v.parse::<u64>().ok()))
            .unwrap_or_else(|| env.fail(&format!("no uploadLength from aria2-{i}")));
        if up < LEN / 10 {
            env.fail(&format!("aria2-{i} uploaded only {up} of {LEN} bytes"));
        }
        total += up;
    }
    eprintln!("uploaded: {total} bytes by both seeders together");
}
