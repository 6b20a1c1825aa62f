variable "project" {
  description = "Google Cloud project id."
  type        = string
}

variable "secrets" {
  description = <<-EOT
    Secrets to create, keyed by a stable label, valued by secret id. Terraform
    creates the containers only: values are added with "gcloud secrets versions add"
    so that they never enter terraform state. Access is granted by the service
    module to the services that mount a secret.
  EOT
  type        = map(string)
}

variable "replica_locations" {
  description = "Regions to replicate secret payloads to (data residency); empty lets Google choose (automatic replication)."
  type        = list(string)
  default     = []
}

variable "labels" {
  description = "Labels on every secret."
  type        = map(string)
  default     = {}
}
