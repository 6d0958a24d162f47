variable "name" {
  description = "Name of the DynamoDB table that holds the event streams (one item per commit)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{3,255}$", var.name))
    error_message = "A DynamoDB table name is 3 to 255 characters: letters, digits, '_', '-' and '.'."
  }
}

variable "billing_mode" {
  description = "PAY_PER_REQUEST (on demand, the default) or PROVISIONED (then read_capacity and write_capacity apply)."
  type        = string
  default     = "PAY_PER_REQUEST"

  validation {
    condition     = contains(["PAY_PER_REQUEST", "PROVISIONED"], var.billing_mode)
    error_message = "billing_mode is PAY_PER_REQUEST or PROVISIONED."
  }
}

variable "read_capacity" {
  description = "Read capacity units; used only when billing_mode is PROVISIONED."
  type        = number
  default     = 5

  validation {
    condition     = var.read_capacity >= 1
    error_message = "read_capacity is at least 1."
  }
}

variable "write_capacity" {
  description = "Write capacity units; used only when billing_mode is PROVISIONED."
  type        = number
  default     = 5

  validation {
    condition     = var.write_capacity >= 1
    error_message = "write_capacity is at least 1."
  }
}

variable "point_in_time_recovery" {
  description = "Keep continuous backups (restore to any second of the last 35 days)."
  type        = bool
  default     = true
}

variable "deletion_protection" {
  description = "Refuse to delete the table (terraform destroy fails until this is set to false and applied)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags for the table."
  type        = map(string)
  default     = {}
}
