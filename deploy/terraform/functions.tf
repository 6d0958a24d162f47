# The log groups are Terraform's, created before the functions (Lambda would otherwise create
# them on first use, with no retention), so the roles need no logs:CreateLogGroup.
resource "aws_cloudwatch_log_group" "fn" {
  for_each = local.functions

  name              = "/aws/lambda/${local.function_names[each.key]}"
  retention_in_days = var.log_retention_days
}

resource "aws_lambda_function" "fn" {
  for_each = local.functions

  function_name = local.function_names[each.key]
  description   = local.function_descriptions[each.key]
  role          = aws_iam_role.fn[each.key].arn

  # One zip, four functions: the custom runtime's bootstrap reads _HANDLER (this setting).
  runtime          = "provided.al2023"
  handler          = each.key
  architectures    = [var.architecture]
  filename         = local.lambda_zip_path
  source_code_hash = filebase64sha256(local.lambda_zip_path)

  memory_size = var.memory_size[each.key]
  timeout     = var.timeout_seconds[each.key]

  environment {
    variables = merge(
      local.function_environment,
      contains(local.read_model_functions, each.key) ? { EVS_READ_MODEL = local.read_model_path } : {},
    )
  }

  tracing_config {
    mode = var.tracing_mode
  }

  # Only with the optional read model: the EFS access point at /mnt/evs, which needs the function
  # in the VPC of the file system's mount targets. Experimental: the read model is SQLite in WAL
  # mode, whose shared-memory index is not kept consistent across hosts on a network file system;
  # keep consume to one shard (one writer) and expect api reads to lag.
  dynamic "file_system_config" {
    for_each = contains(local.read_model_functions, each.key) ? [var.read_model_efs_access_point_arn] : []
    content {
      arn              = file_system_config.value
      local_mount_path = local.read_model_mount
    }
  }

  dynamic "vpc_config" {
    for_each = contains(local.read_model_functions, each.key) ? [each.key] : []
    content {
      subnet_ids         = var.subnet_ids
      security_group_ids = var.security_group_ids
    }
  }

  lifecycle {
    precondition {
      condition     = !local.read_model_enabled || (length(var.subnet_ids) > 0 && length(var.security_group_ids) > 0)
      error_message = "read_model_efs_access_point_arn needs subnet_ids and security_group_ids: a function mounts EFS from inside the VPC."
    }
  }

  # The log group exists (with its retention) and the role can write to it before the first
  # invocation.
  depends_on = [aws_cloudwatch_log_group.fn, aws_iam_role_policy.fn]
}
