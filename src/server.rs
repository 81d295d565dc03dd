//! The example `ExperimentService`: the gRPC handlers over an [`Experiment`], each call
//! audited, and [`serve`], which runs it behind the who-did-it [`IdentityLayer`].
//!
//! The handlers only translate: the model decides what a request does and reports it as
//! effects (action + details); the handler turns that into the response and the events.

use std::future::Future;
use std::sync::Arc;

use audited::tonic_layer::IdentityLayer;
use audited::{Action, AuditLogger, audited, scope};
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use crate::experiment::{Experiment, Report};
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
    logger: AuditLogger,
}

impl ExperimentServer {
    /// Serves `experiment`, logging every call to `logger`.
    pub fn new(experiment: Arc<Experiment>, logger: AuditLogger) -> Self {
        ExperimentServer { experiment, logger }
    }

    /// The experiment served.
    pub fn experiment(&self) -> &Arc<Experiment> {
        &self.experiment
    }

    /// The logger the handlers write to.
    pub fn logger(&self) -> &AuditLogger {
        &self.logger
    }
}

/// Makes the call's event the report's single effect: its action and details.
fn record_single(report: Report) {
    if let Some(effect) = report.effects.into_iter().next() {
        scope::set_action(effect.action);
        for (key, value) in effect.details {
            scope::record(key, value);
        }
    }
}

fn response_parts(report: &Report) -> (bool, String) {
    (report.is_ok(), report.message().to_owned())
}

// Every handler is audited. The attribute logs the call when it ends: failed with the reason
// when the response says `success: false` (or the handler returns an error), and failed with
// "cancelled" when the client goes away first.
#[tonic::async_trait]
impl ExperimentService for ExperimentServer {
    #[audited(
        action = "hp_change" | "pause" | "resume" | "mode_switch" | "note_write"
            | "checkpoint_restore" | "sample_discard" | "sample_restore",
        logger = &self.logger
    )]
    async fn experiment_command(
        &self,
        request: Request<TrainerCommand>,
    ) -> Result<Response<CommandResponse>, Status> {
        let report = self.experiment.command(request.get_ref());
        // One command can mean several actions (hp_change + mode_switch + resume), or none (a
        // read-only `get_*`): each effect is its own event, and the call itself is not one.
        scope::skip();
        let (success, message) = response_parts(&report);
        // The model's details are already JSON: moved into the events, not serialised again.
        for effect in report.effects {
            scope::emit_details(effect.action, effect.details);
        }
        Ok(Response::new(CommandResponse { success, message }))
    }

    #[audited(
        action = "tag_add" | "tag_remove" | "sample_discard" | "sample_restore",
        logger = &self.logger
    )]
    async fn edit_data_sample(
        &self,
        request: Request<DataEditsRequest>,
    ) -> Result<Response<DataEditsResponse>, Status> {
        let report = match self.experiment.edit(request.get_ref()) {
            Ok(report) => report,
            Err(reason) => {
                // An edit of anything but tags or the discarded flag changes nothing and has
                // no action in the catalog: refused, not audited.
                scope::skip();
                return Err(Status::invalid_argument(reason));
            }
        };
        let (success, message) = response_parts(&report);
        record_single(report);
        Ok(Response::new(DataEditsResponse { success, message }))
    }

    #[audited(action = "query_execute", logger = &self.logger)]
    async fn apply_data_query(
        &self,
        request: Request<DataQueryRequest>,
    ) -> Result<Response<DataQueryResponse>, Status> {
        let (report, view) = self.experiment.query(request.get_ref());
        let (success, message) = response_parts(&report);
        record_single(report);
        let mut response = DataQueryResponse {
            success,
            message,
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

    // `details` records the hash before the (possibly slow) load, so a call cancelled mid-way
    // still says which checkpoint it was restoring. `capture` takes the step and the
    // hyperparameters before and after the call: `details.before`, `details.after`, and
    // `details.changed` with only what the restore changed (a cancelled call has `before`
    // only). They are read outside the restore's lock, so a change made by a concurrent call
    // in between would show in them too; the checkpoint named is exact either way.
    #[audited(
        action = "checkpoint_restore",
        logger = &self.logger,
        capture = self.experiment.training_state(),
        details(experiment_hash = request.get_ref().experiment_hash.trim().to_owned())
    )]
    async fn restore_checkpoint(
        &self,
        request: Request<RestoreCheckpointRequest>,
    ) -> Result<Response<RestoreCheckpointResponse>, Status> {
        let report = self
            .experiment
            .restore_checkpoint(&request.get_ref().experiment_hash)
            .await;
        let (success, message) = response_parts(&report);
        record_single(report);
        Ok(Response::new(RestoreCheckpointResponse {
            success,
            message,
        }))
    }

    #[audited(action = "evaluation_start", logger = &self.logger)]
    async fn trigger_evaluation(
        &self,
        request: Request<TriggerEvaluationRequest>,
    ) -> Result<Response<TriggerEvaluationResponse>, Status> {
        let report = self.experiment.trigger_evaluation(request.get_ref());
        let (success, message) = response_parts(&report);
        record_single(report);
        Ok(Response::new(TriggerEvaluationResponse {
            success,
            message,
        }))
    }
}

/// The identity layer for this service: `identity` with the refusal actions of the methods
/// that map to a single action (`ApplyDataQuery` → `query_execute`, `RestoreCheckpoint` →
/// `checkpoint_restore`, `TriggerEvaluation` → `evaluation_start`). Refused
/// `ExperimentCommand` and `EditDataSample` calls, which may mean several actions, are logged
/// as `access_denied`.
pub fn identity_for_service(identity: IdentityLayer) -> IdentityLayer {
    type Server = ExperimentServiceServer<ExperimentServer>;
    identity
        .action_for_method::<Server>("ApplyDataQuery", Action::QueryExecute)
        .action_for_method::<Server>("RestoreCheckpoint", Action::CheckpointRestore)
        .action_for_method::<Server>("TriggerEvaluation", Action::EvaluationStart)
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
