use super::*;

/// The configuration the flags `args` give, or clap's error.
fn parse(args: &[&str]) -> Result<Config, String> {
    #[derive(clap::Parser)]
    struct Wrapper {
        #[command(flatten)]
        config: Config,
    }
    <Wrapper as clap::Parser>::try_parse_from(std::iter::once("server").chain(args.iter().copied()))
        .map(|w| w.config)
        .map_err(|e| e.to_string())
}

#[test]
fn a_commit_batch_and_the_sends_in_flight_fit_in_half_an_outbox() {
    let mut config = Config::for_tests(PathBuf::from("unused"));
    assert!(config.messages_per_commit() * 2 <= config.outbox_capacity, "the defaults keep the rule");
    assert_eq!(config.messages_per_commit(), config.commit_batch, "and are used as given");
    config.outbox_capacity = 64;
    config.commit_batch = 1000;
    config.max_in_flight_sends = 1000;
    assert_eq!(config.messages_per_commit(), 32);
    assert_eq!(config.in_flight_sends(), 32);
    config.outbox_capacity = 1;
    config.commit_batch = 0;
    assert_eq!(config.messages_per_commit(), 1, "never zero");
}

#[test]
fn commit_lanes_are_for_postgresql_and_fit_its_pool() {
    let mut config = Config::for_tests(PathBuf::from("unused"));
    config.commit_lanes = 8;
    assert_eq!(config.commit_lanes(), 1, "SQLite has one writer");
    config.database_url = Some("postgres://localhost/chat".into());
    assert_eq!(config.commit_lanes(), 8);
    config.database_pool = 3;
    assert_eq!(config.commit_lanes(), 3, "each committing lane holds a connection");
    assert!(parse(&["--commit-lanes", "0"]).is_err());
}

#[test]
fn zero_durations_and_counts_are_refused_with_a_clear_error() {
    for bad in [
        ["--ping-interval", "0"],
        ["--retention-interval", "0"],
        ["--history-page-max", "0"],
        ["--rate-per-sec", "0"],
        ["--outbox-capacity", "0"],
        ["--max-frame-bytes", "0"],
    ] {
        let error = parse(&bad).err().unwrap_or_else(|| panic!("{bad:?} was accepted"));
        assert!(error.contains(bad[0]), "{bad:?}: {error}");
    }
    assert!(parse(&["--ping-interval", "0.5"]).is_ok_and(|c| c.ping_interval == Duration::from_millis(500)));
    assert!(parse(&["--ping-interval", "soon"]).is_err_and(|e| e.contains("not a number of seconds")));
}

#[test]
fn api_keys_are_global_or_for_one_project() {
    let parse = |args: &[&str]| parse(args).map(|c| c.api_keys);
    let keys =
        parse(&["--api-key", "0123456789abcdef,p:1:fedcba9876543210", "--api-key", "x@y:zzzzzzzzzzzzzzzz"]).unwrap();
    assert_eq!(keys.len(), 3);
    assert_eq!((keys[0].project.as_ref(), keys[0].secret.as_str()), (None, "0123456789abcdef"));
    assert_eq!(keys[1].project.as_ref().map(|p| p.as_str()), Some("p:1"), "the key follows the last colon");
    assert_eq!(keys[1].secret, "fedcba9876543210");
    assert_eq!(keys[2].project.as_ref().map(|p| p.as_str()), Some("x@y"));
    assert!(parse(&["--api-key", "short"]).is_err_and(|e| e.contains("at least 16")));
    assert!(parse(&["--api-key", "bad project:0123456789abcdef"]).is_err_and(|e| e.contains("project")));
    assert!(!format!("{:?}", keys[0]).contains("0123456789abcdef"), "Debug hides the secret");
}

#[test]
fn frame_ancestors_are_origins() {
    let config = parse(&["--frame-ancestors", "https://app.example/,http://127.0.0.1:8000"]).unwrap();
    assert_eq!(config.content_security_policy(), "frame-ancestors 'self' https://app.example http://127.0.0.1:8000");
    assert_eq!(parse(&[]).unwrap().content_security_policy(), "frame-ancestors 'self'");
    for bad in ["javascript:alert(1)", "https://a.example; script-src *", "app.example"] {
        assert!(parse(&["--frame-ancestors", bad]).is_err(), "{bad}");
    }
}

#[test]
fn reactions_are_a_short_list_of_emoji() {
    use super::parse::reactions;
    let defaults = Config::for_tests(PathBuf::from("unused"));
    assert_eq!(defaults.reactions.0.len(), 6);
    assert_eq!(reactions(" 👍 ,🎉,👍,"), Ok(Reactions(vec!["👍".into(), "🎉".into()])), "trimmed, once each");
    assert!(reactions("ok").is_err(), "letters are not an emoji");
    assert!(reactions(&"🎉".repeat(5)).is_err(), "over 16 bytes");
    let many: Vec<String> = (0..33).map(|i| char::from_u32(0x1F600 + i).unwrap().to_string()).collect();
    assert!(reactions(&many.join(",")).is_err_and(|e| e.contains("at most 32")));
    assert_eq!(defaults.edit_window_millis(), None, "no edit window by default");
    let limited = Config { edit_window: 900, ..defaults };
    assert_eq!(limited.edit_window_millis(), Some(900_000));
    assert_eq!(limited.limits().edit_window_secs, Some(900));
}
