//! Building and running an engine: [`EngineBuilder`] binds listeners (WebSocket and TCP+SOFH,
//! all feeding one acceptor) and configures initiators
//! (thread mode: a [`SessionHandle`] each; inline mode: a [`SessionKey`] for the engine's
//! [`Strategy`]), then [`EngineBuilder::start`] spawns the engine thread (pinned when a core is
//! configured) and returns the [`EngineHandle`]: new acceptor sessions' handles, metrics,
//! shutdown, and the strategy back after `join`.
//!
//! Owns: what happens before the thread starts and the application's side of the running
//! engine. May not touch: the duty cycle's state once started (only through the handle's
//! atomics and queues).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use mio::{Poll, Token, Waker};

use crate::codec::SessionId;
use crate::engine::clock::{ns, Clock};
use crate::engine::config::{EngineConfig, EngineError, IdleMode, InitiatorConfig, MAX_LISTENERS};
use crate::engine::duty_cycle::{Engine, EngineOutcome, EngineParts, LISTENER_BASE, WAKER};
use crate::engine::handle::{Doorbell, SessionCounters, SessionHandle, Wake};
use crate::engine::journaling::restore_acceptor_sessions;
use crate::engine::link::Listener;
use crate::engine::log::LogDrain;
use crate::engine::metrics::{stage_metrics, EngineCounters, EngineMetrics};
use crate::engine::ops::{ops_parts, OpsHandle};
use crate::engine::route::Route;
use crate::engine::sessions::{
    EngineAuthenticator, Factory, Handout, Initiator, Mode, SessionTable,
};
use crate::engine::spsc::{spsc_queue, Consumer};
use crate::engine::store::EngineStore;
use crate::engine::strategy::{NoStrategy, SessionKey, Strategy};
use crate::engine::wire::{EncodingSelector, EngineEncoding};
use crate::journal::SessionJournal;
use crate::session::{Acceptor, Authenticator, MemoryStore, Session};
use crate::transport::{SofhListener, SofhOptions, TransportError, WsListener, WsOptions};

/// Configures the engine before its thread starts.
pub struct EngineBuilder<S: Strategy = NoStrategy> {
    config: EngineConfig,
    poll: Poll,
    waker: Arc<Waker>,
    listeners: Vec<Listener>,
    initiators: Vec<(Initiator, Mode, Arc<SessionCounters>)>,
    strategy: Option<S>,
    doorbell: Doorbell,
    authenticator: Option<EngineAuthenticator>,
    clock: Clock,
}

impl<S: Strategy> std::fmt::Debug for EngineBuilder<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineBuilder")
            .field("listeners", &self.listeners.len())
            .field("initiators", &self.initiators.len())
            .field("inline", &self.strategy.is_some())
            .finish()
    }
}

impl EngineBuilder<NoStrategy> {
    /// A builder with `config` and no inline strategy: every session is in thread mode.
    pub fn new(config: EngineConfig) -> Result<Self, EngineError> {
        Self::build(config, None)
    }
}

impl<S: Strategy> EngineBuilder<S> {
    /// A builder whose engine runs `strategy` on its own thread: every acceptor session is
    /// inline (given to the strategy, no handle), and so is each initiator added with
    /// [`EngineBuilder::initiate_inline`].
    pub fn with_strategy(config: EngineConfig, strategy: S) -> Result<Self, EngineError> {
        Self::build(config, Some(strategy))
    }

    fn build(config: EngineConfig, strategy: Option<S>) -> Result<Self, EngineError> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        // Room for every live session twice (a stale handle may ring once); beyond it the
        // doorbell overflows into a sweep, so nothing is lost.
        let doorbell = Doorbell::new(2 * (config.acceptor.capacity + 64));
        Ok(EngineBuilder {
            config,
            poll,
            waker,
            listeners: Vec::new(),
            initiators: Vec::new(),
            strategy,
            doorbell,
            authenticator: None,
            clock: Clock::new(),
        })
    }

    /// Chooses who may negotiate and establish on this engine's listeners: every Negotiate and
    /// Establish goes to `authenticator` with the connection's verified TLS client certificate
    /// (`TokenAuthenticator`, `HmacAuthenticator`, `ClientCertBinding`, or `AcceptAll`, the
    /// explicit "no authentication"). Required once the engine listens.
    pub fn authenticator(
        &mut self,
        authenticator: impl Authenticator + Send + 'static,
    ) -> &mut Self {
        self.authenticator = Some(Box::new(authenticator));
        self
    }

    fn wake(&self) -> Wake {
        Wake {
            waker: Arc::clone(&self.waker),
            enabled: matches!(self.config.idle, IdleMode::Block(_)),
        }
    }

    /// Binds an acceptor listener (`tls` = `None`: plain `ws://`) and returns its address.
    pub fn listen(
        &mut self,
        addr: SocketAddr,
        tls: Option<Arc<rustls::ServerConfig>>,
        options: WsOptions,
    ) -> Result<SocketAddr, EngineError> {
        self.add_listener(|registry, token| {
            WsListener::bind(addr, tls, options, registry, token).map(Listener::Ws)
        })
    }

    /// Binds an acceptor listener for FIXP over TCP with SOFH framing and returns its address:
    /// TLS with `tls` (`tcp+tls://`); `None` is plain `tcp://`, refused with
    /// `TransportError::PlainTcpNotAllowed` unless [`SofhOptions::allow_plain_tcp`] is set.
    /// Its sessions join the same acceptor table as every other listener's, so a session
    /// negotiated over WebSocket can re-establish over TCP and back; each binding ends the way
    /// its transport does (TCP: the FIXP Terminate exchange).
    pub fn listen_tcp(
        &mut self,
        addr: SocketAddr,
        tls: Option<Arc<rustls::ServerConfig>>,
        options: SofhOptions,
    ) -> Result<SocketAddr, EngineError> {
        self.add_listener(|registry, token| {
            SofhListener::bind(addr, tls, options, registry, token).map(Listener::Sofh)
        })
    }

    fn add_listener(
        &mut self,
        bind: impl FnOnce(&mio::Registry, Token) -> Result<Listener, TransportError>,
    ) -> Result<SocketAddr, EngineError> {
        if self.listeners.len() >= MAX_LISTENERS {
            return Err(EngineError::TooManyListeners);
        }
        let token = Token(LISTENER_BASE + self.listeners.len());
        let listener = bind(self.poll.registry(), token)?;
        let local = listener.local_addr()?;
        self.listeners.push(listener);
        Ok(local)
    }

    /// Adds an initiator session in thread mode; it connects when the engine starts. Returns
    /// its handle. With a journal, a session found there is resumed (see
    /// [`InitiatorConfig::journal`]).
    pub fn initiate(&mut self, config: InitiatorConfig) -> Result<SessionHandle, EngineError> {
        let index = self.initiators.len();
        let init = self.initiator(config)?;
        let counters = Arc::new(SessionCounters::default());
        let (route, handle) = Route::pair(
            SessionKey::new(index, 0).raw(),
            init.session.session_id(),
            init.config.encoding,
            self.config.queue_capacity,
            &counters,
            &self.doorbell,
            &self.wake(),
            (self.clock, self.config.limits.outbound),
        );
        self.initiators
            .push((init, Mode::Thread(Box::new(route)), counters));
        Ok(handle)
    }

    /// Adds an initiator session for the engine's inline strategy (which meets it in
    /// [`Strategy::on_session`] when the engine starts). Returns its key.
    /// [`EngineError::NoStrategy`] without a strategy.
    pub fn initiate_inline(&mut self, config: InitiatorConfig) -> Result<SessionKey, EngineError> {
        if self.strategy.is_none() {
            return Err(EngineError::NoStrategy);
        }
        let index = self.initiators.len();
        let init = self.initiator(config)?;
        let counters = Arc::new(SessionCounters::default());
        self.initiators.push((init, Mode::Inline, counters));
        Ok(SessionKey::new(index, 0))
    }

    fn initiator(&self, config: InitiatorConfig) -> Result<Initiator, EngineError> {
        let encoding = EngineEncoding::fixed(config.encoding);
        let session = match &config.journal {
            None => Session::client(
                config.session.clone(),
                encoding,
                EngineStore::Memory(MemoryStore::new(
                    self.config.retransmit_capacity,
                    config.session.max_frame_len,
                )),
                config.session_id,
            ),
            Some(setup) => {
                let journal = SessionJournal::open(&setup.dir, setup.config)?;
                // A finalized generation's SessionId is dead for good: negotiate anew.
                let finalized = crate::engine::journaling::generation_finalized(&journal);
                let resume = journal
                    .session()
                    .filter(|meta| meta.outbound_flow == config.session.flow && !finalized)
                    .map(|meta| {
                        (
                            meta,
                            journal.next_outbound_seq().unwrap_or(1),
                            journal.next_inbound_seq().unwrap_or(1),
                        )
                    });
                let store = EngineStore::Journal(Box::new(journal));
                match resume {
                    Some((meta, next_out, next_in)) => Session::client_resumed(
                        config.session.clone(),
                        encoding,
                        store,
                        meta.session_id,
                        meta.inbound_flow,
                        next_out,
                        next_in,
                    ),
                    None => {
                        Session::client(config.session.clone(), encoding, store, config.session_id)
                    }
                }
            }
        };
        Ok(Initiator {
            store_id: session.session_id(),
            session,
            config,
            entry: 0,
            conn: None,
            reconnect_at: Some(0),
            backoff_ns: ns(self.config.reconnect_min),
            attempts: 0,
            done: false,
        })
    }

    /// Spawns the engine thread. [`EngineError::NoAuthenticator`] if it listens and no
    /// authenticator was chosen.
    pub fn start(mut self) -> Result<EngineHandle<S>, EngineError> {
        let authenticator = match self.authenticator.take() {
            Some(authenticator) => authenticator,
            None if self.listeners.is_empty() => Box::new(crate::session::AcceptAll),
            None => return Err(EngineError::NoAuthenticator),
        };
        let counters = Arc::new(EngineCounters::default());
        let (recorders, metrics) = stage_metrics(Arc::clone(&counters))?;
        let wake = self.wake();
        let (accepted_tx, accepted_rx) = spsc_queue(self.config.acceptor.capacity.max(1));
        let shutdown = Arc::new(AtomicBool::new(false));
        let selector = EncodingSelector::default();
        let store_capacity = self.config.retransmit_capacity;
        let frame_len = self.config.acceptor.session.max_frame_len;
        let factory_selector = selector.clone();
        let journal_setup = self.config.acceptor_journal.clone();
        if let Some(setup) = &journal_setup {
            std::fs::create_dir_all(&setup.dir)?;
        }
        let factory_setup = journal_setup.clone();
        let factory: Factory = Box::new(move |id: SessionId| {
            let memory = || EngineStore::Memory(MemoryStore::new(store_capacity, frame_len));
            let store = match &factory_setup {
                // A journal that cannot be opened leaves the session in memory.
                Some(setup) => SessionJournal::open(&setup.dir.join(id.to_string()), setup.config)
                    .map_or_else(|_| memory(), |j| EngineStore::Journal(Box::new(j))),
                None => memory(),
            };
            (EngineEncoding::fixed(factory_selector.get()), store)
        });
        let mut acceptor = Acceptor::new(
            self.config.acceptor.clone(),
            EngineEncoding::shared(&selector),
            authenticator,
            factory,
        );
        if let Some(setup) = &journal_setup {
            restore_acceptor_sessions(&mut acceptor, setup, selector.get())?;
        }
        let mut sessions = SessionTable::new(
            acceptor,
            self.initiators,
            selector,
            Handout {
                doorbell: self.doorbell.clone(),
                wake,
                accepted: accepted_tx,
                queue_capacity: self.config.queue_capacity,
                clock: self.clock,
            },
        );
        sessions.apply_limits(self.config.limits.clone(), self.config.cancel_on_disconnect);
        sessions.acceptor_inline = self.strategy.is_some();
        sessions.acceptor_journal = journal_setup.map(|s| s.dir);
        sessions.retransmit_capacity = self.config.retransmit_capacity;
        sessions.reconnect_min_ns = ns(self.config.reconnect_min);
        let ops = ops_parts(
            &self.config.ops,
            sessions.capacity(),
            Arc::clone(&counters),
            Arc::clone(&self.waker),
        );
        sessions.log = ops.log;
        let engine = Engine::new(EngineParts {
            config: self.config,
            poll: self.poll,
            listeners: self.listeners,
            sessions,
            strategy: self.strategy,
            doorbell: self.doorbell,
            recorders,
            counters,
            shutdown: Arc::clone(&shutdown),
            clock: self.clock,
            ops: ops.ops,
        });
        let thread = std::thread::Builder::new()
            .name("fixp-engine".into())
            .spawn(move || engine.run())?;
        Ok(EngineHandle {
            thread: Some(thread),
            shutdown,
            waker: self.waker,
            accepted: accepted_rx,
            metrics,
            strategy: None,
            ops: ops.handle,
            log_drain: ops.drain,
        })
    }
}

/// The running engine, seen from the application.
pub struct EngineHandle<S: Strategy = NoStrategy> {
    thread: Option<JoinHandle<EngineOutcome<S>>>,
    shutdown: Arc<AtomicBool>,
    waker: Arc<Waker>,
    accepted: Consumer<SessionHandle>,
    metrics: EngineMetrics,
    strategy: Option<S>,
    ops: OpsHandle,
    log_drain: Option<LogDrain>,
}

impl<S: Strategy> std::fmt::Debug for EngineHandle<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineHandle")
            .field("running", &self.thread.is_some())
            .field("metrics", &self.metrics)
            .finish_non_exhaustive()
    }
}

impl<S: Strategy> EngineHandle<S> {
    /// The handle of a thread-mode acceptor session the acceptor created, if one is waiting
    /// (never, with an inline strategy: its sessions are the strategy's).
    pub fn accept(&mut self) -> Option<SessionHandle> {
        self.accepted.pop()
    }

    /// Stage timings and counters.
    pub fn metrics(&mut self) -> &mut EngineMetrics {
        &mut self.metrics
    }

    /// Session status, session control and log counters, for other threads (clone it).
    pub fn ops(&self) -> &OpsHandle {
        &self.ops
    }

    /// The consumer of the engine's log records, once (`None` when
    /// [`OpsConfig::log_capacity`](crate::engine::OpsConfig) is 0 or it was taken): run it with
    /// [`LogDrain::spawn`].
    pub fn take_log_drain(&mut self) -> Option<LogDrain> {
        self.log_drain.take()
    }

    /// Asks the engine to end every session (see [`crate::engine::ShutdownMode`]) and stop.
    pub fn shutdown(&self) {
        self.shutdown.store(true, Ordering::Release);
        let _ = self.waker.wake();
    }

    /// True once the engine thread has ended.
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Waits for the engine thread; an error if pinning failed or the thread panicked. The
    /// inline strategy is kept for [`EngineHandle::take_strategy`].
    pub fn join(&mut self) -> Result<(), String> {
        self.metrics.refresh();
        let result = match self.thread.take() {
            Some(thread) => match thread.join() {
                Ok(Ok((last, strategy))) => {
                    self.metrics.add_unpublished(&last);
                    self.strategy = strategy;
                    Ok(())
                }
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("engine thread panicked".to_owned()),
            },
            None => Ok(()),
        };
        self.metrics.refresh();
        result
    }

    /// The inline strategy, once the engine thread has been joined.
    pub fn take_strategy(&mut self) -> Option<S> {
        self.strategy.take()
    }
}

impl<S: Strategy> Drop for EngineHandle<S> {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.shutdown();
            let _ = self.join();
        }
    }
}
