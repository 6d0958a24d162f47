# evs on AWS: the DynamoDB event table (module event_source_table), its stream feeding the relay
# function, the Kinesis stream feeding the consume function, the S3 archive, and an HTTP API in
# front of the api function. One zip (bootstrap, a custom runtime) serves the four functions; the
# function's handler setting (_HANDLER) chooses api, relay, consume or replay.
#
#   client -> HTTP API -> api -> DynamoDB table -> table stream -> relay -> Kinesis -> consume -> S3
#   S3 -> replay (invoked by hand, no trigger) -> Kinesis -> consume and any other consumer
#
# Files: streams.tf (Kinesis, event source mappings, failure queues), functions.tf (functions and
# log groups), iam.tf (one least-privilege role per function), archive.tf (the bucket), api.tf
# (the HTTP API), outputs.tf.

data "aws_caller_identity" "current" {}

locals {
  table_name          = coalesce(var.table_name, "${var.name_prefix}-events")
  kinesis_stream_name = coalesce(var.kinesis_stream_name, "${var.name_prefix}-events")
  archive_bucket_name = coalesce(var.archive_bucket_name, "${var.name_prefix}-archive-${data.aws_caller_identity.current.account_id}")
  lambda_zip_path     = coalesce(var.lambda_zip_path, "${path.module}/../../build/lambda/evs-lambda-x86_64.zip")

  # The four functions, keyed by their handler name (the function's handler setting).
  functions      = toset(["api", "relay", "consume", "replay"])
  function_names = { for f in local.functions : f => "${var.name_prefix}-${f}" }
  function_descriptions = {
    api     = "evs: the HTTP API (API Gateway payload 2.0) on the DynamoDB store"
    relay   = "evs: DynamoDB Streams (new images) -> Kinesis, one record per commit"
    consume = "evs: Kinesis -> event log, archive (S3) and, with EFS, the cart read model"
    replay  = "evs: the S3 archive -> Kinesis again (replay), in bounded invocations"
  }

  # The optional read model on EFS: only the api (reads it) and consume (writes it) functions
  # mount it, and only they then run in the VPC. Without it there is no VPC at all.
  read_model_enabled   = var.read_model_efs_access_point_arn != null
  read_model_functions = local.read_model_enabled ? toset(["api", "consume"]) : toset([])
  read_model_mount     = "/mnt/evs"
  read_model_path      = "${local.read_model_mount}/cart_summary.sqlite"

  # The settings every function reads, with the values the evs CLI takes.
  function_environment = {
    EVS_STORE          = "dynamodb:${module.event_table.name}"
    EVS_KINESIS_STREAM = aws_kinesis_stream.events.name
    EVS_ARCHIVE        = "s3://${aws_s3_bucket.archive.bucket}/${var.archive_prefix}"
  }
}

module "event_table" {
  source = "./modules/event_source_table"

  name                   = local.table_name
  billing_mode           = var.billing_mode
  read_capacity          = var.read_capacity
  write_capacity         = var.write_capacity
  point_in_time_recovery = var.point_in_time_recovery
  deletion_protection    = var.deletion_protection
  tags                   = var.tags
}
