//! The transport: non-blocking TLS WebSocket over mio, rustls and tungstenite.
