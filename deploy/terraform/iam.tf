# One role per function, each allowed exactly what its handler calls, on the exact resources.

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    sid     = "LambdaAssumeRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "fn" {
  for_each = local.functions

  name               = "${local.function_names[each.key]}-lambda"
  description        = "Execution role of the ${local.function_names[each.key]} function"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

# The EFS file system behind the access point, for the ClientMount/ClientWrite statement (those
# actions are authorized on the file system, narrowed here to the access point by a condition).
data "aws_efs_access_point" "read_model" {
  count = local.read_model_enabled ? 1 : 0

  access_point_id = element(split("/", var.read_model_efs_access_point_arn), 1)
}

# What every function needs: writing its own log group; X-Ray when tracing is Active; EFS and the
# VPC network interfaces when it mounts the read model.
data "aws_iam_policy_document" "common" {
  for_each = local.functions

  statement {
    sid       = "OwnLogGroup"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.fn[each.key].arn}:*"]
  }

  dynamic "statement" {
    for_each = var.tracing_mode == "Active" ? ["xray"] : []
    content {
      sid = "XRayWrite"
      # X-Ray has no resource-level permissions for these: "*" is the only resource.
      actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = contains(local.read_model_functions, each.key) ? [for ap in data.aws_efs_access_point.read_model : ap.file_system_arn] : []
    content {
      sid = "ReadModelEfs"
      # ClientWrite for the api function too: a SQLite reader in WAL mode writes the -shm file.
      actions   = ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "elasticfilesystem:AccessPointArn"
        values   = [var.read_model_efs_access_point_arn]
      }
    }
  }

  dynamic "statement" {
    for_each = contains(local.read_model_functions, each.key) ? ["vpc"] : []
    content {
      sid = "VpcNetworkInterfaces"
      # The actions of the AWS managed AWSLambdaVPCAccessExecutionRole (without its logs
      # permissions, which are scoped above). Lambda manages the function's network interfaces
      # with them; that policy grants them on "*" as well.
      actions = [
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
      ]
      resources = ["*"]
    }
  }
}

# api: the DynamoDB store's calls on the event table (src/aws/dynamodb_event_store.cc).
data "aws_iam_policy_document" "api" {
  source_policy_documents = [data.aws_iam_policy_document.common["api"].json]

  statement {
    sid = "EventTable"
    actions = [
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:Query",
      "dynamodb:Scan",
      "dynamodb:DescribeTable",
    ]
    resources = [module.event_table.arn]
  }
}

# relay: the table's stream in (through its event source mapping, which uses this role), Kinesis
# out, and the failure queue of its mapping.
data "aws_iam_policy_document" "relay" {
  source_policy_documents = [data.aws_iam_policy_document.common["relay"].json]

  statement {
    sid = "TableStreamRead"
    actions = [
      "dynamodb:DescribeStream",
      "dynamodb:GetRecords",
      "dynamodb:GetShardIterator",
      "dynamodb:ListStreams",
    ]
    resources = [module.event_table.stream_arn]
  }

  statement {
    sid       = "KinesisPublish"
    actions   = ["kinesis:PutRecords", "kinesis:PutRecord"]
    resources = [aws_kinesis_stream.events.arn]
  }

  statement {
    sid       = "FailureDestination"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.failures["relay"].arn]
  }
}

# Listing the archive prefix, for consume (the archiver finds where it ends) and replay.
data "aws_iam_policy_document" "archive_list" {
  statement {
    sid       = "ArchiveList"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.archive.arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.archive_prefix}/*"]
    }
  }
}

# consume: the Kinesis stream in (through its event source mapping; no SubscribeToShard, as the
# mapping does not use enhanced fan-out), the archive prefix, and the failure queue.
data "aws_iam_policy_document" "consume" {
  source_policy_documents = [data.aws_iam_policy_document.common["consume"].json, data.aws_iam_policy_document.archive_list.json]

  statement {
    sid = "KinesisRead"
    actions = [
      "kinesis:GetRecords",
      "kinesis:GetShardIterator",
      "kinesis:DescribeStream",
      "kinesis:DescribeStreamSummary",
      "kinesis:ListShards",
    ]
    resources = [aws_kinesis_stream.events.arn]
  }

  statement {
    sid = "KinesisListStreams"
    # ListStreams is authorized on the account, not on a stream ("*" is its only resource); it
    # returns stream names only.
    actions   = ["kinesis:ListStreams"]
    resources = ["*"]
  }

  statement {
    sid       = "ArchiveObjects"
    actions   = ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.archive.arn}/${var.archive_prefix}/*"]
  }

  dynamic "statement" {
    for_each = var.archive_kms_key_arn == null ? [] : [var.archive_kms_key_arn]
    content {
      sid       = "ArchiveKmsKey"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [statement.value]
    }
  }

  statement {
    sid       = "FailureDestination"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.failures["consume"].arn]
  }
}

# replay: the archive prefix read (list and get), the Kinesis stream written (the same records as
# the relay, marked as a replay). No trigger: it is invoked by hand (outputs.tf shows how).
data "aws_iam_policy_document" "replay" {
  source_policy_documents = [data.aws_iam_policy_document.common["replay"].json, data.aws_iam_policy_document.archive_list.json]

  statement {
    sid       = "KinesisPublish"
    actions   = ["kinesis:PutRecords", "kinesis:DescribeStreamSummary"]
    resources = [aws_kinesis_stream.events.arn]
  }

  statement {
    sid       = "ArchiveRead"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.archive.arn}/${var.archive_prefix}/*"]
  }

  dynamic "statement" {
    for_each = var.archive_kms_key_arn == null ? [] : [var.archive_kms_key_arn]
    content {
      sid       = "ArchiveKmsKey"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]
    }
  }
}

locals {
  function_policies = {
    api     = data.aws_iam_policy_document.api.json
    relay   = data.aws_iam_policy_document.relay.json
    consume = data.aws_iam_policy_document.consume.json
    replay  = data.aws_iam_policy_document.replay.json
  }
}

resource "aws_iam_role_policy" "fn" {
  for_each = local.functions

  name   = "${local.function_names[each.key]}-least-privilege"
  role   = aws_iam_role.fn[each.key].id
  policy = local.function_policies[each.key]
}
