# ---------------------------------------------------------------------------------------------
# General
# ---------------------------------------------------------------------------------------------

variable "aws_region" {
  description = "AWS region to deploy into; null takes it from the environment (AWS_REGION or the shared config)."
  type        = string
  default     = null
}

variable "name_prefix" {
  description = "Prefix of every resource name (functions, roles, queues, log groups, the API and the default table, stream and bucket names)."
  type        = string
  default     = "evs"

  validation {
    # Short enough for the longest derived name: "<prefix>-archive-<12-digit account id>" is an
    # S3 bucket name (at most 63 characters, lower case).
    condition     = can(regex("^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$", var.name_prefix))
    error_message = "name_prefix is 1 to 32 characters: lower-case letters, digits and '-', starting with a letter and not ending with '-'."
  }
}

variable "tags" {
  description = "Tags added to every resource (through the provider's default_tags)."
  type        = map(string)
  default     = {}
}

# ---------------------------------------------------------------------------------------------
# DynamoDB event table
# ---------------------------------------------------------------------------------------------

variable "table_name" {
  description = "Name of the DynamoDB event table; null means \"<name_prefix>-events\"."
  type        = string
  default     = null
}

variable "billing_mode" {
  description = "Billing mode of the table: PAY_PER_REQUEST (on demand) or PROVISIONED."
  type        = string
  default     = "PAY_PER_REQUEST"

  validation {
    condition     = contains(["PAY_PER_REQUEST", "PROVISIONED"], var.billing_mode)
    error_message = "billing_mode is PAY_PER_REQUEST or PROVISIONED."
  }
}

variable "read_capacity" {
  description = "Read capacity units of the table; used only when billing_mode is PROVISIONED."
  type        = number
  default     = 5
}

variable "write_capacity" {
  description = "Write capacity units of the table; used only when billing_mode is PROVISIONED."
  type        = number
  default     = 5
}

variable "point_in_time_recovery" {
  description = "Enable point-in-time recovery (continuous backups) on the table."
  type        = bool
  default     = true
}

variable "deletion_protection" {
  description = "Enable deletion protection on the table; set to false (and apply) before terraform destroy."
  type        = bool
  default     = true
}

# ---------------------------------------------------------------------------------------------
# Kinesis stream
# ---------------------------------------------------------------------------------------------

variable "kinesis_stream_name" {
  description = "Name of the Kinesis stream the relay publishes to; null means \"<name_prefix>-events\"."
  type        = string
  default     = null
}

variable "kinesis_stream_mode" {
  description = "PROVISIONED (kinesis_shard_count shards) or ON_DEMAND (Kinesis scales the shards)."
  type        = string
  default     = "PROVISIONED"

  validation {
    condition     = contains(["PROVISIONED", "ON_DEMAND"], var.kinesis_stream_mode)
    error_message = "kinesis_stream_mode is PROVISIONED or ON_DEMAND."
  }
}

variable "kinesis_shard_count" {
  description = "Number of shards when kinesis_stream_mode is PROVISIONED (each shard is one ordered consume invocation at a time)."
  type        = number
  default     = 1

  validation {
    condition     = var.kinesis_shard_count >= 1
    error_message = "kinesis_shard_count is at least 1."
  }
}

variable "kinesis_retention_hours" {
  description = "How long Kinesis keeps records (24 to 8760 hours); the time an operator has to repair a stuck consumer before records expire."
  type        = number
  default     = 24

  validation {
    condition     = var.kinesis_retention_hours >= 24 && var.kinesis_retention_hours <= 8760
    error_message = "kinesis_retention_hours is between 24 and 8760."
  }
}

# ---------------------------------------------------------------------------------------------
# S3 archive
# ---------------------------------------------------------------------------------------------

variable "archive_bucket_name" {
  description = "Name of the S3 archive bucket; null means \"<name_prefix>-archive-<account id>\"."
  type        = string
  default     = null
}

variable "archive_prefix" {
  description = "Key prefix of the archive segments in the bucket (EVS_ARCHIVE=s3://<bucket>/<prefix>)."
  type        = string
  default     = "evs"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$", var.archive_prefix))
    error_message = "archive_prefix is one or more path segments of letters, digits, '.', '_' and '-', separated by '/', with no leading or trailing '/'."
  }
}

variable "archive_transition_ia_days" {
  description = "Days after which archive segments move to STANDARD_IA (S3 requires at least 30)."
  type        = number
  default     = 30

  validation {
    condition     = var.archive_transition_ia_days >= 30
    error_message = "archive_transition_ia_days is at least 30 (an S3 rule for STANDARD_IA)."
  }
}

variable "archive_transition_glacier_ir_days" {
  description = "Days after which archive segments move to GLACIER_IR (Glacier Instant Retrieval: replay still reads them directly); at least archive_transition_ia_days + 30."
  type        = number
  default     = 90
}

variable "archive_noncurrent_version_days" {
  description = "Days after which noncurrent versions (overwritten or deleted segments) expire."
  type        = number
  default     = 90

  validation {
    condition     = var.archive_noncurrent_version_days >= 1
    error_message = "archive_noncurrent_version_days is at least 1."
  }
}

variable "archive_abort_multipart_days" {
  description = "Days after which incomplete multipart uploads are aborted."
  type        = number
  default     = 7

  validation {
    condition     = var.archive_abort_multipart_days >= 1
    error_message = "archive_abort_multipart_days is at least 1."
  }
}

variable "archive_kms_key_arn" {
  description = "ARN of a customer managed KMS key for the archive bucket (SSE-KMS); null uses SSE-S3 (AES256)."
  type        = string
  default     = null
}

variable "archive_force_destroy" {
  description = "Let terraform destroy delete a non-empty archive bucket (every archived segment and version). Keep false outside test deployments."
  type        = bool
  default     = false
}

# ---------------------------------------------------------------------------------------------
# Lambda functions
# ---------------------------------------------------------------------------------------------

variable "lambda_zip_path" {
  # A variable's default cannot use path.module, hence null and the default in locals (main.tf).
  description = "Path of the deployable zip (bootstrap and its shared libraries), built by the CMake target lambda_zip; null means \"$${path.module}/../../build/lambda/evs-lambda-x86_64.zip\" (the build folder of this repository)."
  type        = string
  default     = null
}

variable "architecture" {
  description = "Instruction set of the functions. Only x86_64 for now: arm64 needs an aarch64 build of bootstrap and of every shared library in the zip."
  type        = string
  default     = "x86_64"

  validation {
    condition     = var.architecture == "x86_64"
    error_message = "architecture is x86_64: the zip holds an x86_64 bootstrap and libraries (arm64 needs an aarch64 build of them)."
  }
}

variable "memory_size" {
  description = "Memory (MB) of each function: a map with the keys api, relay, consume and replay."
  type        = map(number)
  default = {
    api     = 512
    relay   = 256
    consume = 512
    replay  = 512
  }

  validation {
    condition     = alltrue([for f in ["api", "relay", "consume", "replay"] : contains(keys(var.memory_size), f) && try(var.memory_size[f] >= 128 && var.memory_size[f] <= 10240, false)])
    error_message = "memory_size has the keys api, relay, consume and replay, each 128 to 10240 (MB)."
  }
}

variable "timeout_seconds" {
  description = "Timeout (seconds) of each function: a map with the keys api, relay, consume and replay. The API Gateway integration waits at most 30 s; replay publishes until its timeout is near, then answers where to continue."
  type        = map(number)
  default = {
    api     = 10
    relay   = 60
    consume = 120
    replay  = 900
  }

  validation {
    condition     = alltrue([for f in ["api", "relay", "consume", "replay"] : contains(keys(var.timeout_seconds), f) && try(var.timeout_seconds[f] >= 1 && var.timeout_seconds[f] <= 900, false)])
    error_message = "timeout_seconds has the keys api, relay, consume and replay, each 1 to 900."
  }
}

variable "log_retention_days" {
  description = "Retention of the functions' and the API's CloudWatch log groups, in days."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days is one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

variable "tracing_mode" {
  description = "X-Ray tracing of the functions: PassThrough (trace only requests that arrive traced) or Active (which also grants the X-Ray write permissions)."
  type        = string
  default     = "PassThrough"

  validation {
    condition     = contains(["PassThrough", "Active"], var.tracing_mode)
    error_message = "tracing_mode is PassThrough or Active."
  }
}

# ---------------------------------------------------------------------------------------------
# Optional read model on EFS (the cart-summary projection)
# ---------------------------------------------------------------------------------------------

variable "read_model_efs_access_point_arn" {
  description = "ARN of an EFS access point for the SQLite read model of the cart projection. Null (the default): no EFS, no VPC, and the projection does not run in Lambda. Set: the api and consume functions mount it at /mnt/evs, run in subnet_ids with security_group_ids, and get EVS_READ_MODEL=/mnt/evs/cart_summary.sqlite; the subnets then need a route to DynamoDB, Kinesis and S3 (VPC endpoints or NAT) and a mount target of the file system."
  type        = string
  default     = null

  validation {
    condition     = var.read_model_efs_access_point_arn == null || can(regex("^arn:[a-z-]+:elasticfilesystem:[a-z0-9-]+:[0-9]{12}:access-point/fsap-[0-9a-f]+$", var.read_model_efs_access_point_arn))
    error_message = "read_model_efs_access_point_arn is null or an EFS access point ARN (arn:aws:elasticfilesystem:REGION:ACCOUNT:access-point/fsap-...)."
  }
}

variable "subnet_ids" {
  description = "Subnets of the api and consume functions; used only with read_model_efs_access_point_arn."
  type        = list(string)
  default     = []
}

variable "security_group_ids" {
  description = "Security groups of the api and consume functions (they must reach the EFS mount targets on NFS, port 2049); used only with read_model_efs_access_point_arn."
  type        = list(string)
  default     = []
}

# ---------------------------------------------------------------------------------------------
# Event source mappings (DynamoDB stream -> relay, Kinesis -> consume)
# ---------------------------------------------------------------------------------------------

variable "starting_position" {
  description = "Where a new event source mapping starts reading: LATEST (only new records) or TRIM_HORIZON (the oldest record still kept)."
  type        = string
  default     = "LATEST"

  validation {
    condition     = contains(["LATEST", "TRIM_HORIZON"], var.starting_position)
    error_message = "starting_position is LATEST or TRIM_HORIZON."
  }
}

variable "relay_batch_size" {
  description = "Most DynamoDB stream records per relay invocation (1 to 10000)."
  type        = number
  default     = 100

  validation {
    condition     = var.relay_batch_size >= 1 && var.relay_batch_size <= 10000
    error_message = "relay_batch_size is between 1 and 10000."
  }
}

variable "consume_batch_size" {
  description = "Most Kinesis records per consume invocation (1 to 10000)."
  type        = number
  default     = 100

  validation {
    condition     = var.consume_batch_size >= 1 && var.consume_batch_size <= 10000
    error_message = "consume_batch_size is between 1 and 10000."
  }
}

variable "maximum_batching_window_seconds" {
  description = "How long (0 to 300 s) Lambda gathers records before invoking the relay or consume function; 0 invokes as soon as records arrive."
  type        = number
  default     = 0

  validation {
    condition     = var.maximum_batching_window_seconds >= 0 && var.maximum_batching_window_seconds <= 300
    error_message = "maximum_batching_window_seconds is between 0 and 300."
  }
}

variable "maximum_retry_attempts" {
  description = "Retries of a failing batch before its records are reported to the failure queue and skipped (0 to 10000); -1 retries until the records expire, which stops the shard instead of skipping."
  type        = number
  default     = 10

  validation {
    condition     = var.maximum_retry_attempts >= -1 && var.maximum_retry_attempts <= 10000
    error_message = "maximum_retry_attempts is between -1 and 10000."
  }
}

variable "maximum_record_age_seconds" {
  description = "Records older than this (60 to 604800 s) are reported to the failure queue and skipped; -1 means no limit (records are kept until the stream's retention)."
  type        = number
  default     = -1

  validation {
    condition     = var.maximum_record_age_seconds == -1 || (var.maximum_record_age_seconds >= 60 && var.maximum_record_age_seconds <= 604800)
    error_message = "maximum_record_age_seconds is -1 or between 60 and 604800."
  }
}

variable "failure_queue_retention_seconds" {
  description = "How long the failure queues keep the reports of skipped batches (60 to 1209600 s, 14 days)."
  type        = number
  default     = 1209600

  validation {
    condition     = var.failure_queue_retention_seconds >= 60 && var.failure_queue_retention_seconds <= 1209600
    error_message = "failure_queue_retention_seconds is between 60 and 1209600."
  }
}

# ---------------------------------------------------------------------------------------------
# HTTP API
# ---------------------------------------------------------------------------------------------

variable "api_throttling_burst_limit" {
  description = "Burst limit (requests) of the HTTP API's default route."
  type        = number
  default     = 200

  validation {
    condition     = var.api_throttling_burst_limit >= 0
    error_message = "api_throttling_burst_limit is at least 0."
  }
}

variable "api_throttling_rate_limit" {
  description = "Steady-state limit (requests per second) of the HTTP API's default route."
  type        = number
  default     = 100

  validation {
    condition     = var.api_throttling_rate_limit >= 0
    error_message = "api_throttling_rate_limit is at least 0."
  }
}

variable "api_authorization_type" {
  description = "How the HTTP API authorizes callers: AWS_IAM (SigV4-signed requests, the default) or NONE (anyone may read and write carts: only behind another guard)."
  type        = string
  default     = "AWS_IAM"
  validation {
    condition     = contains(["AWS_IAM", "NONE"], var.api_authorization_type)
    error_message = "api_authorization_type must be AWS_IAM or NONE."
  }
}
