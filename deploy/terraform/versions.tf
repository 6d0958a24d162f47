terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

# The region comes from var.aws_region or, when that is null, from the environment
# (AWS_REGION, the shared config), as for the evs CLI.
provider "aws" {
  region = var.aws_region

  default_tags {
    tags = merge({ Application = "evs", Deployment = var.name_prefix }, var.tags)
  }
}
