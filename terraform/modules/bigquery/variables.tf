variable "project" {
  description = "Google Cloud project id."
  type        = string
}

variable "location" {
  description = "BigQuery location of both datasets (a region such as europe-west1, or US / EU). Cannot change after creation."
  type        = string
}

variable "events_dataset_id" {
  description = "Dataset of the event tables (one table per subject, created by the registry when it admits a version)."
  type        = string
}

variable "failed_dataset_id" {
  description = "Dataset of the _failed_events table written by the failed processor."
  type        = string
}

variable "events_partition_expiration_days" {
  description = "Default partition expiration of event tables, in days; null keeps partitions forever. An event type's own partition_expiration option overrides it per table."
  type        = number
  default     = null

  validation {
    condition     = var.events_partition_expiration_days == null ? true : var.events_partition_expiration_days >= 1
    error_message = "events_partition_expiration_days must be at least 1, or null."
  }
}

variable "failed_partition_expiration_days" {
  description = "Default partition expiration of the failed-events table, in days; null keeps them forever. The GCS archive keeps a copy under failed/ either way."
  type        = number
  default     = 90

  validation {
    condition     = var.failed_partition_expiration_days == null ? true : var.failed_partition_expiration_days >= 1
    error_message = "failed_partition_expiration_days must be at least 1, or null."
  }
}

variable "max_time_travel_hours" {
  description = "Time travel window of both datasets (48 to 168 hours)."
  type        = number
  default     = 168
}

variable "analysts_group" {
  description = "Google group (e-mail) of the analysts: roles/bigquery.dataViewer on the events dataset. Null grants nothing."
  type        = string
  default     = null
}

variable "analysts_job_user" {
  description = "Also grant analysts_group roles/bigquery.jobUser on the project so they can run queries here (turn off when they query from their own project)."
  type        = bool
  default     = true
}

variable "failed_readers" {
  description = <<-EOT
    Members (e.g. group:data-eng@example.com) with roles/bigquery.dataViewer on the
    failed-events dataset, keyed by a stable label. Failed events carry the original
    bytes of events that were rejected before PII transforms ran, so this is
    deliberately not the analysts group.
  EOT
  type        = map(string)
  default     = {}
}

variable "editors" {
  description = "roles/bigquery.dataEditor grants to hem's service accounts, keyed by a stable label: dataset is \"events\" or \"failed\", member is the principal."
  type = map(object({
    dataset = string
    member  = string
  }))
  default = {}

  validation {
    condition     = alltrue([for e in var.editors : contains(["events", "failed"], e.dataset)])
    error_message = "editors[*].dataset must be \"events\" or \"failed\"."
  }
}

variable "labels" {
  description = "Labels on both datasets."
  type        = map(string)
  default     = {}
}
