variable "project" {
  description = "Google Cloud project id."
  type        = string
}

variable "location" {
  description = "Location of both buckets: a region (cheapest, next to Cloud Run), a dual-region, or a multi-region."
  type        = string
}

variable "archive_bucket_name" {
  description = "Globally unique name of the event archive bucket (Parquet under events/ and failed/)."
  type        = string
}

variable "registry_bucket_name" {
  description = "Globally unique name of the schema registry bucket."
  type        = string
}

variable "archive_nearline_after_days" {
  description = "Age in days at which archive objects move to Nearline."
  type        = number
  default     = 30
}

variable "archive_coldline_after_days" {
  description = "Age in days at which archive objects move to Coldline."
  type        = number
  default     = 90
}

variable "archive_archive_after_days" {
  description = "Age in days at which archive objects move to the Archive storage class."
  type        = number
  default     = 365
}

variable "archive_delete_after_days" {
  description = "Age in days at which archive objects are deleted; null keeps them forever."
  type        = number
  default     = null
}

variable "failed_delete_after_days" {
  description = "Age in days at which failed events under failed/ are deleted: the failed-events table's partition expiration, so both keep them equally long."
  type        = number
  nullable    = false

  validation {
    condition     = var.failed_delete_after_days >= 1
    error_message = "failed_delete_after_days must be at least 1."
  }
}

variable "archive_type_rules" {
  description = "Lifecycle rules per event type from the contracts' archive retention (hem schema lifecycle writes them to archive_lifecycle.json): Delete or SetStorageClass at an age, for objects under the types' prefixes events/type=<subject>/."
  type = list(object({
    action                = string
    storage_class         = optional(string)
    age_days              = number
    matches_storage_class = optional(list(string))
    matches_prefix        = list(string)
  }))
  default = []

  validation {
    condition     = alltrue([for r in var.archive_type_rules : alltrue([for p in r.matches_prefix : startswith(p, "events/type=")])])
    error_message = "archive_type_rules may only match event types' prefixes (events/type=<subject>/): failed/ keeps its own rule."
  }
}

variable "soft_delete_retention_days" {
  description = "Soft-delete window of both buckets, in days (0 disables it; 7 to 90 otherwise)."
  type        = number
  default     = 7
}

variable "registry_noncurrent_retention_days" {
  description = "Days a replaced registry object version (the bucket is versioned) is kept before deletion."
  type        = number
  default     = 365
}

variable "force_destroy" {
  description = "Let terraform destroy non-empty buckets. Only ever true for throwaway environments."
  type        = bool
  default     = false
}

variable "archive_access" {
  description = <<-EOT
    Grants on the archive bucket, keyed by a stable label. role is a storage role
    (roles/storage.objectCreator, roles/storage.objectAdmin, ...); prefix, when set,
    limits it with an IAM condition to objects under that prefix (e.g. "events/"),
    so the archive processor cannot touch failed/ and the other way round.
  EOT
  type = map(object({
    member = string
    role   = string
    prefix = optional(string)
  }))
  default = {}
}

variable "registry_object_admins" {
  description = "Members with roles/storage.objectAdmin on the registry bucket (the registry service), keyed by a stable label."
  type        = map(string)
  default     = {}
}

variable "labels" {
  description = "Labels on both buckets."
  type        = map(string)
  default     = {}
}
