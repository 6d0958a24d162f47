# The Kinesis stream between the relay and the consumers. The relay publishes one record per
# commit with the stream id as partition key, so each event stream's commits land, in order, on
# one shard.
resource "aws_kinesis_stream" "events" {
  name             = local.kinesis_stream_name
  shard_count      = var.kinesis_stream_mode == "PROVISIONED" ? var.kinesis_shard_count : null
  retention_period = var.kinesis_retention_hours

  # The AWS managed key: producers and consumers need no kms permissions of their own for it.
  encryption_type = "KMS"
  kms_key_id      = "alias/aws/kinesis"

  stream_mode_details {
    stream_mode = var.kinesis_stream_mode
  }
}

# Where the event source mappings report a batch they gave up on (after maximum_retry_attempts or
# maximum_record_age_seconds). The message describes the batch (shard, first and last sequence
# number, the error), it does not hold the records: an operator re-reads them from the table's
# stream or Kinesis within their retention, or from the archive.
resource "aws_sqs_queue" "failures" {
  for_each = toset(["relay", "consume"])

  name                      = "${var.name_prefix}-${each.key}-failures"
  message_retention_seconds = var.failure_queue_retention_seconds
  sqs_managed_sse_enabled   = true
}

# Both mappings keep parallelization_factor at 1: one batch per shard in flight, so a shard's
# records, and with them each event stream's commits, are handled strictly one after the other.
# Per-stream order is the only order evs has on AWS (DynamoDB Streams and Kinesis order records
# per item / partition key within a shard) and the handlers rely on it: the relay publishes a
# stream's commits in version order, the read model refuses a batch with a missing version, and
# the checkpointed archiver numbers events in arrival order and cuts segments at the shard's
# checkpoints. A higher factor runs several batches of one shard concurrently, Lambda then keeps
# only each partition key's order, and a batch's failure report no longer describes the shard's
# progress.
#
# bisect_batch_on_function_error and ReportBatchItemFailures: the functions answer
# {"batchItemFailures": [...]} naming the records that failed (the relay adds the rest of their
# event stream), so Lambda retries from the first of them and nothing after it in the shard is
# checkpointed past; bisecting narrows a batch that fails as a whole to the record at fault.

resource "aws_lambda_event_source_mapping" "relay" {
  event_source_arn  = module.event_table.stream_arn
  function_name     = aws_lambda_function.fn["relay"].arn
  starting_position = var.starting_position

  batch_size                         = var.relay_batch_size
  maximum_batching_window_in_seconds = var.maximum_batching_window_seconds
  parallelization_factor             = 1
  bisect_batch_on_function_error     = true
  function_response_types            = ["ReportBatchItemFailures"]
  maximum_retry_attempts             = var.maximum_retry_attempts
  maximum_record_age_in_seconds      = var.maximum_record_age_seconds

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.failures["relay"].arn
    }
  }

  # Lambda checks the function's role when the mapping is created.
  depends_on = [aws_iam_role_policy.fn]
}

resource "aws_lambda_event_source_mapping" "consume" {
  event_source_arn  = aws_kinesis_stream.events.arn
  function_name     = aws_lambda_function.fn["consume"].arn
  starting_position = var.starting_position

  batch_size                         = var.consume_batch_size
  maximum_batching_window_in_seconds = var.maximum_batching_window_seconds
  parallelization_factor             = 1
  bisect_batch_on_function_error     = true
  function_response_types            = ["ReportBatchItemFailures"]
  maximum_retry_attempts             = var.maximum_retry_attempts
  maximum_record_age_in_seconds      = var.maximum_record_age_seconds

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.failures["consume"].arn
    }
  }

  depends_on = [aws_iam_role_policy.fn]
}
