//! Wire compatibility with clients generated from WeightsLab's own `.proto`, checked without
//! our generated code: the messages below are written by hand from WeightsLab's field names,
//! numbers and types (a `float` learning rate, the misspelt `checkpont_frequency`, ...), and
//! sent to the package-less paths `/ExperimentService/<Method>` with a plain gRPC client. A
//! type or number that differed in our `.proto` would decode wrongly here.

mod common;

use experiment_service::testing::{LocalServer, LocalServerOptions};
use tonic::codegen::http::uri::PathAndQuery;
use tonic_prost::ProstCodec;

#[derive(Clone, PartialEq, prost::Message)]
struct HyperParameters {
    #[prost(float, optional, tag = "3")]
    learning_rate: Option<f32>,
    #[prost(int32, optional, tag = "4")]
    batch_size: Option<i32>,
    #[prost(int32, optional, tag = "6")]
    checkpont_frequency: Option<i32>,
    #[prost(bool, optional, tag = "7")]
    is_training: Option<bool>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct HyperParameterCommand {
    #[prost(message, optional, tag = "1")]
    hyper_parameters: Option<HyperParameters>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct DenySamplesOperation {
    #[prost(string, repeated, tag = "1")]
    sample_ids: Vec<String>,
    #[prost(bool, tag = "2")]
    accumulate: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
struct TrainerCommand {
    #[prost(message, optional, tag = "1")]
    hyper_parameter_change: Option<HyperParameterCommand>,
    #[prost(bool, tag = "4")]
    get_hyper_parameters: bool,
    #[prost(message, optional, tag = "7")]
    deny_samples_operation: Option<DenySamplesOperation>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct CommandResponse {
    #[prost(bool, tag = "1")]
    success: bool,
    #[prost(string, tag = "2")]
    message: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct DataEditsRequest {
    #[prost(string, tag = "1")]
    stat_name: String,
    #[prost(float, tag = "2")]
    float_value: f32,
    #[prost(string, tag = "3")]
    string_value: String,
    #[prost(bool, tag = "4")]
    bool_value: bool,
    /// `SampleEditType`: EDIT_OVERRIDE = 0, EDIT_ACCUMULATE = 1, EDIT_REMOVE = 2.
    #[prost(int32, tag = "5")]
    r#type: i32,
    #[prost(string, repeated, tag = "6")]
    samples_ids: Vec<String>,
    #[prost(string, repeated, tag = "7")]
    sample_origins: Vec<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct DataEditsResponse {
    #[prost(bool, tag = "1")]
    success: bool,
    #[prost(string, tag = "2")]
    message: String,
}

async fn call<Req, Resp>(server: &LocalServer, method: &'static str, request: Req) -> Resp
where
    Req: prost::Message + Send + Sync + 'static,
    Resp: prost::Message + Default + Send + Sync + 'static,
{
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", server.addr()))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    grpc.unary(
        tonic::Request::new(request),
        PathAndQuery::from_static(method),
        ProstCodec::<Req, Resp>::default(),
    )
    .await
    .unwrap_or_else(|status| panic!("{method}: {status}"))
    .into_inner()
}

#[tokio::test]
async fn a_client_built_from_weightslab_field_numbers_is_understood() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = LocalServer::start(LocalServerOptions::new(dir.path()))
        .await
        .expect("start server");

    // Read-only: no event.
    let reply: CommandResponse = call(
        &server,
        "/ExperimentService/ExperimentCommand",
        TrainerCommand {
            get_hyper_parameters: true,
            ..Default::default()
        },
    )
    .await;
    assert!(reply.success, "{}", reply.message);
    assert!(common::logged(&server).is_empty());

    // A float learning rate, the misspelt checkpoint frequency and a pause in one command.
    let reply: CommandResponse = call(
        &server,
        "/ExperimentService/ExperimentCommand",
        TrainerCommand {
            hyper_parameter_change: Some(HyperParameterCommand {
                hyper_parameters: Some(HyperParameters {
                    learning_rate: Some(0.005),
                    batch_size: None,
                    checkpont_frequency: Some(7),
                    is_training: Some(false),
                }),
            }),
            ..Default::default()
        },
    )
    .await;
    assert!(reply.success, "{}", reply.message);

    let reply: DataEditsResponse = call(
        &server,
        "/ExperimentService/EditDataSample",
        DataEditsRequest {
            stat_name: "tag:defect".into(),
            r#type: 1,
            samples_ids: vec!["s1".into(), "s2".into()],
            ..Default::default()
        },
    )
    .await;
    assert!(reply.success, "{}", reply.message);

    let reply: CommandResponse = call(
        &server,
        "/ExperimentService/ExperimentCommand",
        TrainerCommand {
            deny_samples_operation: Some(DenySamplesOperation {
                sample_ids: vec!["s3".into()],
                accumulate: true,
            }),
            ..Default::default()
        },
    )
    .await;
    assert!(reply.success, "{}", reply.message);

    let events = common::logged(&server);
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action_type"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(actions, ["hp_change", "pause", "tag_add", "sample_discard"]);
    let changed = &events[0]["details"]["changed_params"];
    let lr = changed["learning_rate"]
        .as_f64()
        .expect("learning_rate recorded");
    assert!(
        (lr - 0.005).abs() < 1e-6,
        "float decoded wrongly: {changed}"
    );
    assert_eq!(changed["checkpont_frequency"], 7, "{changed}");
    assert_eq!(events[2]["details"]["tag_name"], "defect");
    assert_eq!(events[2]["details"]["samples_affected"], 2);
    assert_eq!(
        events[3]["details"]["sample_ids"],
        serde_json::json!(["s3"])
    );
    server.stop().await.expect("stop");
}
