//! `#[audited]` on a tonic service: a server trait written exactly as tonic's code
//! generator writes them (`#[tonic::async_trait]`, `Send + Sync + 'static`, results of
//! `Response<T>` and `Status`). Needs feature `tonic`.
//!
//! What is logged is checked exactly, event by event, through an in-memory logger
//! (`AuditLogger::in_memory`): these tests are about the attribute, not the file.

mod common;

use std::time::Duration;

use audit_runtime::{Action, AuditLogger, AuditOutcome, Status as AuditStatus, audited, scope};
use common::{MemLog, entry};
use serde_json::json;
use tonic::{Request, Response, Status};

/// What prost generates for `message DataEditsRequest { string tag = 1; bool add = 2; repeated string sample_ids = 3; }`.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct DataEditsRequest {
    pub tag: String,
    pub add: bool,
    pub sample_ids: Vec<String>,
}

/// A response in the reference's style, with the derive added by `type_attribute`.
#[derive(Clone, PartialEq, Debug, Default, AuditOutcome)]
pub struct DataEditsResponse {
    pub success: bool,
    pub message: String,
}

#[derive(Clone, PartialEq, Debug, Default)]
pub struct Empty {}

/// The shape of a tonic-generated server trait.
#[tonic::async_trait]
pub trait ExperimentService: std::marker::Send + std::marker::Sync + 'static {
    async fn edit_data_sample(
        &self,
        request: tonic::Request<DataEditsRequest>,
    ) -> std::result::Result<tonic::Response<DataEditsResponse>, tonic::Status>;

    async fn restore_checkpoint(
        &self,
        request: tonic::Request<String>,
    ) -> std::result::Result<tonic::Response<Empty>, tonic::Status>;

    async fn trigger_evaluation(
        &self,
        request: tonic::Request<String>,
    ) -> std::result::Result<tonic::Response<Empty>, tonic::Status>;
}

struct Service {
    log: AuditLogger,
}

#[tonic::async_trait]
impl ExperimentService for Service {
    #[audited(
        action = "tag_add" | "tag_remove",
        logger = &self.log,
        details(tag = request.get_ref().tag.clone(), sample_ids = request.get_ref().sample_ids.clone()),
    )]
    async fn edit_data_sample(
        &self,
        request: Request<DataEditsRequest>,
    ) -> Result<Response<DataEditsResponse>, Status> {
        let req = request.into_inner();
        if req.tag.is_empty() {
            return Err(Status::invalid_argument("tag must not be empty"));
        }
        scope::set_action(if req.add {
            Action::TagAdd
        } else {
            Action::TagRemove
        });
        tokio::task::yield_now().await;
        let unknown: Vec<&String> = req
            .sample_ids
            .iter()
            .filter(|s| !s.starts_with('s'))
            .collect();
        scope::record("samples_affected", req.sample_ids.len() - unknown.len());
        Ok(Response::new(DataEditsResponse {
            success: unknown.is_empty(),
            message: if unknown.is_empty() {
                String::new()
            } else {
                format!("unknown samples: {unknown:?}")
            },
        }))
    }

    #[audited(action = "checkpoint_restore", logger = &self.log, details(checkpoint_id = request.get_ref().clone()))]
    async fn restore_checkpoint(
        &self,
        request: Request<String>,
    ) -> Result<Response<Empty>, Status> {
        Err(Status::not_found(format!(
            "checkpoint {} not found",
            request.get_ref()
        )))
    }

    #[audited(action = Action::EvaluationStart, logger = &self.log)]
    async fn trigger_evaluation(
        &self,
        request: Request<String>,
    ) -> Result<Response<Empty>, Status> {
        scope::record("split", request.get_ref());
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(Response::new(Empty {}))
    }
}

/// tonic's server wrapper holds the service as `Arc<T>` and calls it from a boxed `Send`
/// future; mimic that.
fn serve<S: ExperimentService>(
    svc: std::sync::Arc<S>,
    req: DataEditsRequest,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Response<DataEditsResponse>, Status>> + Send>,
> {
    Box::pin(async move { svc.edit_data_sample(Request::new(req)).await })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tonic_handlers_record_status_codes_and_response_failures() {
    let log = MemLog::new();
    let svc = std::sync::Arc::new(Service {
        log: log.logger.clone(),
    });
    let ok = serve(
        svc.clone(),
        DataEditsRequest {
            tag: "defect".into(),
            add: true,
            sample_ids: vec!["s1".into(), "s2".into()],
        },
    );
    assert!(tokio::spawn(ok).await.unwrap().unwrap().get_ref().success);
    let partial = serve(
        svc.clone(),
        DataEditsRequest {
            tag: "defect".into(),
            add: false,
            sample_ids: vec!["s1".into(), "x9".into()],
        },
    )
    .await
    .unwrap();
    assert!(!partial.get_ref().success);
    let invalid = serve(svc.clone(), DataEditsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), tonic::Code::InvalidArgument);
    let missing = svc
        .restore_checkpoint(Request::new("ckpt_9".into()))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);

    assert_eq!(
        log.entries(),
        [
            entry(
                "tag_add",
                AuditStatus::Success,
                json!({"tag": "defect", "sample_ids": ["s1", "s2"], "samples_affected": 2}),
                None
            ),
            // `success: false` in the response.
            entry(
                "tag_remove",
                AuditStatus::Failed,
                json!({"tag": "defect", "sample_ids": ["s1", "x9"], "samples_affected": 1}),
                Some("unknown samples: [\"x9\"]")
            ),
            // `Err(Status)` before choosing an action: the first declared one, undecided.
            entry(
                "tag_add",
                AuditStatus::Failed,
                json!({
                    "tag": "",
                    "sample_ids": [],
                    "grpc_code": "InvalidArgument",
                    "action_undecided": ["tag_add", "tag_remove"],
                }),
                Some("tag must not be empty")
            ),
            entry(
                "checkpoint_restore",
                AuditStatus::Failed,
                json!({"checkpoint_id": "ckpt_9", "grpc_code": "NotFound"}),
                Some("checkpoint ckpt_9 not found")
            ),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_cancellation_is_logged() {
    let log = MemLog::new();
    let svc = Service {
        log: log.logger.clone(),
    };
    let call = svc.trigger_evaluation(Request::new("val".into()));
    assert!(
        tokio::time::timeout(Duration::from_millis(30), call)
            .await
            .is_err()
    );
    assert_eq!(
        log.entries(),
        [entry(
            "evaluation_start",
            AuditStatus::Failed,
            json!({"split": "val"}),
            Some("cancelled")
        )]
    );
}
