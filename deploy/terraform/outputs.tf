output "api_url" {
  description = "Base URL of the HTTP API (the api function)."
  value       = aws_apigatewayv2_stage.default.invoke_url
}

output "table_name" {
  description = "Name of the DynamoDB event table (EVS_STORE=dynamodb:<table_name>)."
  value       = module.event_table.name
}

output "table_stream_arn" {
  description = "ARN of the table's stream (new images), read by the relay function."
  value       = module.event_table.stream_arn
}

output "kinesis_stream_name" {
  description = "Name of the Kinesis stream (EVS_KINESIS_STREAM), written by relay and read by consume."
  value       = aws_kinesis_stream.events.name
}

output "archive_bucket" {
  description = "Name of the S3 archive bucket."
  value       = aws_s3_bucket.archive.bucket
}

output "archive_location" {
  description = "The archive as evs takes it (EVS_ARCHIVE, or --archive for evs verify and evs replay)."
  value       = local.function_environment.EVS_ARCHIVE
}

output "function_names" {
  description = "Names of the Lambda functions, by handler (api, relay, consume, replay)."
  value       = { for f, fn in aws_lambda_function.fn : f => fn.function_name }
}

output "failure_queue_urls" {
  description = "URLs of the SQS queues that receive the reports of batches the relay and consume mappings gave up on."
  value       = { for f, q in aws_sqs_queue.failures : f => q.url }
}

output "replay_invoke_example" {
  description = "How to replay the archive to the Kinesis stream with the replay function: invoke again with \"from\" = the answer's next_from until it says done."
  value       = "aws lambda invoke --function-name ${aws_lambda_function.fn["replay"].function_name} --cli-binary-format raw-in-base64-out --payload '{\"archive\": \"${local.function_environment.EVS_ARCHIVE}\", \"kinesis_stream\": \"${aws_kinesis_stream.events.name}\", \"from\": 1}' replay.json && cat replay.json"
}
