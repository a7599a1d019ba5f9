//! The engine: one pinned busy-poll thread that owns sockets, sessions and journals, and talks to
//! strategy threads through lock-free SPSC queues.
