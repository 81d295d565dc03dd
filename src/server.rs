//! The example `ExperimentService`: the gRPC handlers over an [`Experiment`], each call
//! audited, and [`serve`], which runs it behind the who-did-it [`IdentityLayer`].
//!
//! The handlers only translate: the model decides what a request does and reports it as
//! effects (action + details); the handler turns that into the response and the events.

use std::future::Future;
use std::sync::Arc;

use audit_runtime::tonic_layer::IdentityLayer;
use audit_runtime::{AuditLogger, Status as AuditStatus};
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use serde_json::{Map, Value};

use crate::experiment::{Action, Effect, Experiment, Report};
use crate::proto::experiment_service_server::{ExperimentService, ExperimentServiceServer};
use crate::proto::{
    CommandResponse, DataEditsRequest, DataEditsResponse, DataQueryRequest, DataQueryResponse,
    RestoreCheckpointRequest, RestoreCheckpointResponse, TrainerCommand, TriggerEvaluationRequest,
    TriggerEvaluationResponse,
};

/// The gRPC path prefix of the service (the .proto has no package).
pub const SERVICE_PATH: &str = "/ExperimentService";

/// The audited `ExperimentService`. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ExperimentServer {
    experiment: Arc<Experiment>,
    logger: Option<AuditLogger>,
}

impl ExperimentServer {
    /// Serves `experiment`, logging to the global logger (`audit_runtime::init`).
    pub fn new(experiment: Arc<Experiment>) -> Self {
        ExperimentServer {
            experiment,
            logger: None,
        }
    }

    /// Logs to `logger` instead of the global logger (several servers in one process, as
    /// in the tests).
    pub fn with_logger(mut self, logger: AuditLogger) -> Self {
        self.logger = Some(logger);
        self
    }

    /// The experiment served.
    pub fn experiment(&self) -> &Arc<Experiment> {
        &self.experiment
    }

    /// The logger in use: the explicit one, else the global one.
    pub fn logger(&self) -> Option<AuditLogger> {
        self.logger.clone().or_else(audit_runtime::global)
    }

    /// Writes the events of `report`, all with the request's outcome.
    fn audit(&self, report: &Report) {
        let (status, error) = match &report.result {
            Ok(_) => (AuditStatus::Success, None),
            Err(e) => (AuditStatus::Failed, Some(e.as_str())),
        };
        for effect in &report.effects {
            let name = effect.action.name();
            let details = effect.details.clone();
            let written = match &self.logger {
                Some(logger) => logger
                    .log_details(name, status, details, error, None)
                    .map(drop),
                None => audit_runtime::log_details(name, status, details, error).map(drop),
            };
            if let Err(e) = written {
                eprintln!("audit log: cannot record {name}: {e}");
            }
        }
    }
}

/// Logs a `failed` / `cancelled` event if dropped before [`CancelGuard::disarm`].
struct CancelGuard<'a> {
    server: &'a ExperimentServer,
    action: Action,
    details: Option<Map<String, Value>>,
}

impl CancelGuard<'_> {
    fn disarm(mut self) {
        self.details = None;
    }
}

impl Drop for CancelGuard<'_> {
    fn drop(&mut self) {
        if let Some(details) = self.details.take() {
            self.server.audit(&Report {
                effects: vec![Effect {
                    action: self.action,
                    details,
                }],
                result: Err("cancelled".to_owned()),
            });
        }
    }
}

#[tonic::async_trait]
impl ExperimentService for ExperimentServer {
    async fn experiment_command(
        &self,
        request: Request<TrainerCommand>,
    ) -> Result<Response<CommandResponse>, Status> {
        let report = self.experiment.command(request.get_ref());
        self.audit(&report);
        Ok(Response::new(CommandResponse {
            success: report.is_ok(),
            message: report.message().to_owned(),
        }))
    }

    async fn edit_data_sample(
        &self,
        request: Request<DataEditsRequest>,
    ) -> Result<Response<DataEditsResponse>, Status> {
        let report = self
            .experiment
            .edit(request.get_ref())
            .map_err(Status::invalid_argument)?;
        self.audit(&report);
        Ok(Response::new(DataEditsResponse {
            success: report.is_ok(),
            message: report.message().to_owned(),
        }))
    }

    async fn apply_data_query(
        &self,
        request: Request<DataQueryRequest>,
    ) -> Result<Response<DataQueryResponse>, Status> {
        let (report, view) = self.experiment.query(request.get_ref());
        self.audit(&report);
        let mut response = DataQueryResponse {
            success: report.is_ok(),
            message: report.message().to_owned(),
            ..Default::default()
        };
        if let Some(view) = view {
            let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
            response.number_of_all_samples = count(view.matching);
            response.number_of_samples_in_the_loop = count(view.in_the_loop);
            response.number_of_discarded_samples = count(view.discarded);
            response.unique_tags = view.unique_tags;
        }
        Ok(Response::new(response))
    }

    async fn restore_checkpoint(
        &self,
        request: Request<RestoreCheckpointRequest>,
    ) -> Result<Response<RestoreCheckpointResponse>, Status> {
        let hash = &request.get_ref().experiment_hash;
        // If the client goes away while the checkpoint loads, the future is dropped here and
        // the guard records the cancelled call.
        let guard = CancelGuard {
            server: self,
            action: Action::CheckpointRestore,
            details: Some(
                [("experiment_hash".to_owned(), hash.clone().into())]
                    .into_iter()
                    .collect(),
            ),
        };
        let report = self.experiment.restore_checkpoint(hash).await;
        guard.disarm();
        self.audit(&report);
        Ok(Response::new(RestoreCheckpointResponse {
            success: report.is_ok(),
            message: report.message().to_owned(),
        }))
    }

    async fn trigger_evaluation(
        &self,
        request: Request<TriggerEvaluationRequest>,
    ) -> Result<Response<TriggerEvaluationResponse>, Status> {
        let report = self.experiment.trigger_evaluation(request.get_ref());
        self.audit(&report);
        Ok(Response::new(TriggerEvaluationResponse {
            success: report.is_ok(),
            message: report.message().to_owned(),
        }))
    }
}

/// The identity layer for this service: `identity` with the refusal actions of the methods
/// that map to a single action (`ApplyDataQuery` → `query_execute`, `RestoreCheckpoint` →
/// `checkpoint_restore`, `TriggerEvaluation` → `evaluation_start`). Refused
/// `ExperimentCommand` and `EditDataSample` calls, which may mean several actions, are logged
/// as `access_denied`.
pub fn identity_for_service(identity: IdentityLayer) -> IdentityLayer {
    identity
        .action_for(format!("{SERVICE_PATH}/ApplyDataQuery"), "query_execute")
        .action_for(
            format!("{SERVICE_PATH}/RestoreCheckpoint"),
            "checkpoint_restore",
        )
        .action_for(
            format!("{SERVICE_PATH}/TriggerEvaluation"),
            "evaluation_start",
        )
}

/// Serves `service` on `listener` behind `identity` (see [`identity_for_service`]) until
/// `shutdown` completes; then stops accepting calls, lets running ones finish, and returns.
pub async fn serve(
    listener: TcpListener,
    service: ExperimentServer,
    identity: IdentityLayer,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        .layer(identity)
        .add_service(ExperimentServiceServer::new(service))
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
        .await
}
