# The archive: immutable, self-describing segments under <archive_prefix>/ written by the consume
# function (EVS_ARCHIVE=s3://<bucket>/<prefix>) and read back by `evs verify` and `evs replay`.

resource "aws_s3_bucket" "archive" {
  bucket        = local.archive_bucket_name
  force_destroy = var.archive_force_destroy
}

resource "aws_s3_bucket_ownership_controls" "archive" {
  bucket = aws_s3_bucket.archive.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "archive" {
  bucket = aws_s3_bucket.archive.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# Versioning keeps a deleted or overwritten segment recoverable (for archive_noncurrent_version_days).
resource "aws_s3_bucket_versioning" "archive" {
  bucket = aws_s3_bucket.archive.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "archive" {
  bucket = aws_s3_bucket.archive.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.archive_kms_key_arn == null ? "AES256" : "aws:kms"
      kms_master_key_id = var.archive_kms_key_arn
    }
    bucket_key_enabled = var.archive_kms_key_arn != null
  }
}

# Segments are written once and read rarely (verify, replay): they move to cheaper storage
# classes as they age. GLACIER_IR (Instant Retrieval) still serves GetObject directly, so replay
# needs no restore step.
resource "aws_s3_bucket_lifecycle_configuration" "archive" {
  bucket = aws_s3_bucket.archive.id

  rule {
    id     = "archive-segments"
    status = "Enabled"

    filter {
      prefix = "${var.archive_prefix}/"
    }

    transition {
      days          = var.archive_transition_ia_days
      storage_class = "STANDARD_IA"
    }

    transition {
      days          = var.archive_transition_glacier_ir_days
      storage_class = "GLACIER_IR"
    }
  }

  # The whole bucket: an empty prefix (not an empty filter block, which provider 5.9x warns about).
  rule {
    id     = "bucket-housekeeping"
    status = "Enabled"

    filter {
      prefix = ""
    }

    noncurrent_version_expiration {
      noncurrent_days = var.archive_noncurrent_version_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = var.archive_abort_multipart_days
    }
  }

  lifecycle {
    precondition {
      condition     = var.archive_transition_glacier_ir_days >= var.archive_transition_ia_days + 30
      error_message = "archive_transition_glacier_ir_days must be at least archive_transition_ia_days + 30: S3 keeps objects 30 days in STANDARD_IA before a further transition."
    }
  }

  # A lifecycle configuration with noncurrent-version rules needs versioning set first.
  depends_on = [aws_s3_bucket_versioning.archive]
}

# Refuse every request that does not use TLS.
data "aws_iam_policy_document" "archive_bucket" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.archive.arn,
      "${aws_s3_bucket.archive.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "archive" {
  bucket = aws_s3_bucket.archive.id
  policy = data.aws_iam_policy_document.archive_bucket.json

  # The public access block first: S3 rejects some policy changes while it is being applied.
  depends_on = [aws_s3_bucket_public_access_block.archive]
}
