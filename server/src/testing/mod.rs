//! Services the tests start themselves, so `cargo test` alone runs every
//! test and none is skipped for want of a server.

mod redis_server;

pub use redis_server::RedisServer;

/// A free TCP port on 127.0.0.1 (the kernel's choice; free when this returns).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}
