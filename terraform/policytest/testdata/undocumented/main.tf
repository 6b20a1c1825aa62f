variable "image" {
  type = string
}

variable "region" {
  description = "Region."
}

output "collector_url" {
  value = "https://example.run.app"
}
