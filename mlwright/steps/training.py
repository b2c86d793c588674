"""Steps of the TrainingPipeline, in the order they run."""

from __future__ import annotations

from mlwright import policies
from mlwright.contracts import training_steps as c
from mlwright.contracts.refs import DatasetRef
from mlwright.queues import Resource
from mlwright.steps import Step

CHECK_INPUT = Step(
    "check_training_input", "Check input against limits", c.InputCheck, c.InputLimits, Resource.CPU,
    policies.COMPUTE,
)
EXTRACT = Step("extract_dataset", "Extract dataset", c.ExtractInput, DatasetRef, Resource.IO, policies.IO_READ)
VALIDATE = Step(
    "validate_data_quality", "Validate data quality", c.QualityInput, c.QualityReport, Resource.CPU, policies.COMPUTE
)
FEATURES = Step("build_features", "Build features", c.FeaturesInput, c.FeatureSet, Resource.CPU, policies.COMPUTE)
SPLIT = Step("split_dataset", "Split train/test", c.SplitInput, c.SplitOutput, Resource.CPU, policies.COMPUTE)
TRAIN = Step("train_model", "Train model", c.TrainInput, c.TrainedModel, Resource.TRAINING, policies.TRAINING)
EVALUATE = Step("evaluate_model", "Evaluate on test set", c.EvaluateInput, c.Metrics, Resource.CPU, policies.COMPUTE)
COMPARE = Step(
    "compare_with_production", "Compare with production", c.CompareInput, c.Comparison, Resource.CPU, policies.COMPUTE
)
REGISTER = Step(
    "register_model_version", "Register model version", c.RegisterInput, c.RegisteredVersion, Resource.IO,
    policies.STORE_WRITE,
)
SET_STAGE = Step("set_model_stage", "Set model stage", c.StageChange, c.RegisteredVersion, Resource.IO, policies.STORE_WRITE)
RETIRE_STAGE = Step("retire_model_stage", "Retire stage", c.RetireStage, c.StageRetired, Resource.IO, policies.STORE_WRITE)
INTEGRATION = Step(
    "run_integration_tests", "Integration tests on staging", c.IntegrationInput, c.IntegrationReport, Resource.CPU,
    policies.COMPUTE,
)
ACQUIRE_SLOT = Step(
    "acquire_promotion_slot", "Acquire promotion slot", c.SlotRequest, c.SlotState, Resource.IO,
    policies.STORE_WRITE,
)
RELEASE_SLOT = Step(
    "release_promotion_slot", "Release promotion slot", c.SlotRelease, c.SlotReleased, Resource.IO,
    policies.STORE_WRITE,
)
RECORD_REFUSAL = Step(
    "record_refused_approval", "Record refused approval", c.RefusalRecord, c.RefusalRecorded, Resource.IO,
    policies.STORE_WRITE,
)
LOAD_APPROVAL_POLICY = Step(
    "load_approval_policy", "Load approval policy", c.PolicyRequest, c.ApprovalPolicyState, Resource.IO,
    policies.IO_READ,
)
RECORD_APPROVAL_DECISION = Step(
    "record_approval_decision", "Record approval decision", c.ApprovalDecisionRecord, c.ApprovalDecisionRecorded,
    Resource.IO, policies.STORE_WRITE,
)
WATCH_CANARY = Step("evaluate_canary", "Evaluate canary", c.CanaryInput, c.CanaryReport, Resource.CPU, policies.COMPUTE)

ALL = (CHECK_INPUT, EXTRACT, VALIDATE, FEATURES, SPLIT, TRAIN, EVALUATE, COMPARE, REGISTER, SET_STAGE,
       RETIRE_STAGE, INTEGRATION, WATCH_CANARY, ACQUIRE_SLOT, RELEASE_SLOT, RECORD_REFUSAL,
       LOAD_APPROVAL_POLICY, RECORD_APPROVAL_DECISION)
