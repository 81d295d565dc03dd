//! An in-process server on a free loopback port with its own log, and clients for it: what
//! the demo and the integration tests run against.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use audited::tonic_layer::{IdentityLayer, TokenMap};
use audited::{AuditError, AuditLogger, Format};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::experiment::{Experiment, ExperimentConfig};
use crate::proto::experiment_service_client::ExperimentServiceClient;
use crate::server::{ExperimentServer, identity_for_service, serve};

/// What can go wrong starting or stopping a [`LocalServer`].
#[derive(Debug, thiserror::Error)]
pub enum LocalServerError {
    /// The audit log could not be opened.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// Binding or connecting failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The gRPC transport failed.
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// `GRPC_AUTH_TOKENS`-style token list is invalid.
    #[error(transparent)]
    Tokens(#[from] audited::tonic_layer::TokenSpecError),
    /// The server task panicked.
    #[error("the server task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// How to start a [`LocalServer`].
#[derive(Debug, Clone)]
pub struct LocalServerOptions {
    /// The log directory.
    pub log_dir: PathBuf,
    /// The log format.
    pub format: Format,
    /// Tokens in the `GRPC_AUTH_TOKENS` format; `None`: no authentication.
    pub tokens: Option<String>,
    /// The experiment's sizes and timings.
    pub experiment: ExperimentConfig,
    /// Refuse calls while the log cannot take events
    /// ([`AuditLoggerBuilder::fail_closed`](audited::AuditLoggerBuilder::fail_closed)).
    pub fail_closed: bool,
    /// A private key file (`auditlog keygen`): the log gets a hash chain and signed
    /// digests. `None`: `AUDIT_LOG_SIGNING_KEY` decides, as for any logger.
    pub signing_key: Option<PathBuf>,
}

impl LocalServerOptions {
    /// JSON log in `log_dir`, no tokens, default experiment.
    pub fn new(log_dir: impl Into<PathBuf>) -> Self {
        LocalServerOptions {
            log_dir: log_dir.into(),
            format: Format::Json,
            tokens: None,
            experiment: ExperimentConfig::default(),
            fail_closed: false,
            signing_key: None,
        }
    }
}

/// A running server on `127.0.0.1:<free port>` logging to its own [`AuditLogger`].
#[derive(Debug)]
pub struct LocalServer {
    addr: SocketAddr,
    logger: AuditLogger,
    experiment: Arc<Experiment>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), tonic::transport::Error>>>,
}

impl LocalServer {
    /// Binds `127.0.0.1:0`, opens the log and starts serving on the current tokio runtime.
    pub async fn start(options: LocalServerOptions) -> Result<Self, LocalServerError> {
        let mut builder = AuditLogger::builder(&options.log_dir)
            .experiment("demo")
            .format(options.format)
            .fail_closed(options.fail_closed);
        if let Some(key) = &options.signing_key {
            builder = builder.signing_key(key);
        }
        let logger = builder.build()?;
        let tokens = match &options.tokens {
            Some(spec) => Some(TokenMap::parse(spec)?),
            None => None,
        };
        let identity =
            identity_for_service(IdentityLayer::new().tokens(tokens)).logger(logger.clone());
        let experiment = Arc::new(Experiment::new(options.experiment));
        let service = ExperimentServer::new(experiment.clone(), logger.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, service, identity, async {
            // A dropped sender also means stop.
            let _ = rx.await;
        }));
        Ok(LocalServer {
            addr,
            logger,
            experiment,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its audit logger.
    pub fn logger(&self) -> &AuditLogger {
        &self.logger
    }

    /// The log file (`None` for the `none` format).
    pub fn log_path(&self) -> Option<&Path> {
        self.logger.path()
    }

    /// The experiment it serves.
    pub fn experiment(&self) -> &Arc<Experiment> {
        &self.experiment
    }

    /// A client without credentials.
    pub async fn client(&self) -> Result<ExperimentServiceClient<Channel>, LocalServerError> {
        Ok(ExperimentServiceClient::connect(format!("http://{}", self.addr)).await?)
    }

    /// A client that sends `authorization: Bearer <token>` on every call.
    pub async fn client_with_token(
        &self,
        token: &str,
    ) -> Result<ExperimentServiceClient<InterceptedService<Channel, BearerToken>>, LocalServerError>
    {
        let channel = Channel::from_shared(format!("http://{}", self.addr))
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?
            .connect()
            .await?;
        let value = MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        Ok(ExperimentServiceClient::with_interceptor(
            channel,
            BearerToken(value),
        ))
    }

    /// Stops accepting calls, waits for running ones, and makes the log durable.
    pub async fn stop(mut self) -> Result<(), LocalServerError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await??;
        }
        self.logger.flush()?;
        Ok(())
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Adds `authorization: Bearer <token>` to every request.
#[derive(Debug, Clone)]
pub struct BearerToken(MetadataValue<tonic::metadata::Ascii>);

impl Interceptor for BearerToken {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}
