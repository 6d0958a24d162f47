# The evs event table: one item per commit, keyed by the stream id and the commit's first
# version, the commit's events in one list attribute (see src/aws/dynamodb_event_store.cc, which
# creates the same schema for `evs aws init` and checks it on open). The table's stream carries
# new images only: each item is written once, with a conditional PutItem, and never changed, so
# the new image is the whole commit and the relay needs nothing else.
resource "aws_dynamodb_table" "this" {
  name         = var.name
  billing_mode = var.billing_mode
  hash_key     = "StreamId"
  range_key    = "Version"

  read_capacity  = var.billing_mode == "PROVISIONED" ? var.read_capacity : null
  write_capacity = var.billing_mode == "PROVISIONED" ? var.write_capacity : null

  attribute {
    name = "StreamId"
    type = "S"
  }

  attribute {
    name = "Version"
    type = "N"
  }

  stream_enabled   = true
  stream_view_type = "NEW_IMAGE"

  point_in_time_recovery {
    enabled = var.point_in_time_recovery
  }

  # Encrypted with the AWS managed key (aws/dynamodb), which needs no key policy of ours.
  server_side_encryption {
    enabled = true
  }

  deletion_protection_enabled = var.deletion_protection

  tags = var.tags
}
