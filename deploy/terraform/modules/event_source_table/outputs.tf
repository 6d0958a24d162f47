output "name" {
  description = "Name of the table (EVS_STORE=dynamodb:<name>)."
  value       = aws_dynamodb_table.this.name
}

output "arn" {
  description = "ARN of the table."
  value       = aws_dynamodb_table.this.arn
}

output "stream_arn" {
  description = "ARN of the table's stream (new images), the relay's event source."
  value       = aws_dynamodb_table.this.stream_arn
}
