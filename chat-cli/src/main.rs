//! `chat-cli`: follow a conversation in the terminal, send lines from stdin.

use clap::Parser;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = chat_cli::Args::parse();
    let result = chat_cli::run(args, tokio::io::stdin(), tokio::io::stdout()).await;
    // Exit at once: tokio's stdin reader is a blocking thread that a
    // runtime shutdown would wait for.
    std::process::exit(match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("chat-cli: {e}");
            1
        }
    })
}
