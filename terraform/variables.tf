variable "project" {
  description = "Google Cloud project id to deploy hem into."
  type        = string
}

variable "region" {
  description = "Region of the Cloud Run services and the Artifact Registry repository (and, by default, of the data)."
  type        = string
  default     = "us-central1"
}

variable "environment" {
  description = "Environment name (dev, prod), set as the environment label on every resource. No default: it comes from the environment's values file (environments/ENV/values.tfvars), so that an apply without one stops here."
  type        = string

  validation {
    condition     = length(var.environment) > 0
    error_message = "Pass the environment's values: -var-file=environments/ENV/values.tfvars."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name. With the default \"hem\" the names match hem's defaults (hem-events, hem-failed, ...). Change it to run two deployments in one project."
  type        = string
  default     = "hem"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,9}$", var.name_prefix))
    error_message = "name_prefix must be 2 to 10 lowercase letters, digits or hyphens, starting with a letter (service account ids are at most 30 characters)."
  }
}

variable "image" {
  description = "The hem container image, e.g. us-central1-docker.pkg.dev/PROJECT/hem/hem:v1.2.3 (or @sha256:...). Roll a new version with terraform apply -var image=..."
  type        = string

  validation {
    condition     = length(var.image) > 0 && !endswith(var.image, ":latest")
    error_message = "Set image to a tag or digest; :latest makes deployments unrepeatable."
  }
}

variable "labels" {
  description = "Extra labels on every resource (team, cost center, ...)."
  type        = map(string)
  default     = {}
}

variable "deletion_protection" {
  description = "Protect the Cloud Run services from terraform destroy."
  type        = bool
  default     = true
}

variable "force_destroy" {
  description = "Let terraform destroy non-empty buckets (throwaway environments only)."
  type        = bool
  default     = false
}

# Data.

variable "bigquery_location" {
  description = "BigQuery location (region or US/EU); null uses var.region."
  type        = string
  default     = null
}

variable "storage_location" {
  description = "Location of the archive and registry buckets; null uses var.region."
  type        = string
  default     = null
}

variable "archive_bucket_name" {
  description = "Name of the archive bucket; null uses PROJECT-PREFIX-archive."
  type        = string
  default     = null
}

variable "registry_bucket_name" {
  description = "Name of the registry bucket; null uses PROJECT-PREFIX-registry."
  type        = string
  default     = null
}

variable "events_partition_expiration_days" {
  description = "Default partition expiration of event tables in days; null keeps data forever."
  type        = number
  default     = null
}

variable "failed_partition_expiration_days" {
  description = "How long failed events are kept, in days: the failed-events table's partition expiration and the age at which the archive deletes them under failed/."
  type        = number
  nullable    = false
  default     = 90
}

variable "archive_delete_after_days" {
  description = "Delete archive objects after this many days; null keeps them forever (moving to colder classes)."
  type        = number
  default     = null
}

variable "analysts_group" {
  description = "Google group e-mail of the analysts, granted read access to the events dataset; null grants nobody."
  type        = string
  default     = null
}

variable "analysts_job_user" {
  description = "Also let the analysts group run BigQuery jobs in this project."
  type        = bool
  default     = true
}

variable "failed_readers" {
  description = "Members allowed to read the failed-events dataset (it holds raw, untransformed payloads), keyed by a label."
  type        = map(string)
  default     = {}
}

# Pub/Sub.

variable "max_delivery_attempts" {
  description = "Deliveries before a message goes to its subscription's dead-letter topic."
  type        = number
  default     = 15
}

variable "enable_message_ordering" {
  description = "Deliver events with the same entity key in order (recreates the subscriptions when changed)."
  type        = bool
  default     = false
}

variable "message_storage_regions" {
  description = "Regions where Pub/Sub may store messages; empty for Google's default."
  type        = list(string)
  default     = []
}

# Secrets.

variable "secret_replica_locations" {
  description = "Regions for Secret Manager replicas; empty for automatic replication."
  type        = list(string)
  default     = []
}

# Services.

variable "registry_ingress" {
  description = "Ingress of the registry. INGRESS_TRAFFIC_ALL lets CI outside Google Cloud push schemas (callers still need roles/run.invoker); INGRESS_TRAFFIC_INTERNAL_ONLY when CI runs in the VPC."
  type        = string
  default     = "INGRESS_TRAFFIC_ALL"
}

variable "registry_invokers" {
  description = "Extra members allowed to call the registry (roles/run.invoker), keyed by a label: CI's service account, operators' groups. hem's own services are granted already."
  type        = map(string)
  default     = {}
}

variable "registry" {
  description = "Size of the registry service."
  type = object({
    cpu           = optional(string, "1")
    memory        = optional(string, "512Mi")
    min_instances = optional(number, 1)
    max_instances = optional(number, 3)
  })
  default = {}
}

variable "collector" {
  description = "Size of the collector service. cpu_always_allocated switches to instance-based billing, cheaper when instances are busy."
  type = object({
    cpu                  = optional(string, "1")
    memory               = optional(string, "1Gi")
    min_instances        = optional(number, 2)
    max_instances        = optional(number, 50)
    concurrency          = optional(number, 250)
    cpu_always_allocated = optional(bool, true)
  })
  default = {}
}

variable "processors" {
  description = "Size of each processor (bigquery, archive, failed). min_instances is at least 1: processors pull, nothing would wake them."
  type = map(object({
    cpu           = optional(string, "1")
    memory        = optional(string, "2Gi")
    min_instances = optional(number, 2)
    max_instances = optional(number, 20)
  }))
  default = {
    bigquery = {}
    archive  = {}
    failed = {
      cpu           = "1"
      memory        = "1Gi"
      min_instances = 1
      max_instances = 3
    }
  }

  validation {
    condition     = alltrue([for sink in ["bigquery", "archive", "failed"] : contains(keys(var.processors), sink)])
    error_message = "processors must size the bigquery, archive and failed processors."
  }

  validation {
    condition     = alltrue([for p in values(var.processors) : p.min_instances >= 1 && p.max_instances >= p.min_instances])
    error_message = "Every processor needs min_instances >= 1 and max_instances >= min_instances."
  }
}

variable "landing_bucket_name" {
  description = "Name of the landing bucket file sources take their exports from (default PROJECT-PREFIX-landing). Declarations under sources/ name it in objects.bucket."
  type        = string
  default     = null
}

variable "ledger_bucket_name" {
  description = "Name of the file sources' ledger bucket (default PROJECT-PREFIX-source-ledger)."
  type        = string
  default     = null
}

variable "landing_delete_after_days" {
  description = "Delete exports from the landing bucket this many days after upload (null keeps them; the ledger keeps its record either way)."
  type        = number
  default     = null
}

variable "source_run" {
  description = "Size of the source service (hem source run). min_instances is at least 1: it pulls, nothing would wake it. loads is how many objects one instance loads at once."
  type = object({
    cpu           = optional(string, "2")
    memory        = optional(string, "2Gi")
    min_instances = optional(number, 1)
    max_instances = optional(number, 4)
    loads         = optional(number, 2)
  })
  default = {}

  validation {
    condition     = var.source_run.min_instances >= 1 && var.source_run.max_instances >= var.source_run.min_instances && var.source_run.loads >= 1
    error_message = "source_run needs min_instances >= 1, max_instances >= min_instances and loads >= 1."
  }
}

variable "console" {
  description = <<-EOT
    The web console (console.tf), behind an HTTPS load balancer with Identity-Aware
    Proxy. domain: the console's host name (null, the default, deploys no console);
    users: IAM members who may open it (user:..., group:...); pii_viewers and
    replayers: e-mail addresses who see PII values and who may replay failed events;
    max_bytes_billed: BigQuery refuses a console query that would scan more (0: no
    cap); cpu, memory, max_instances: the Cloud Run service's size.
  EOT
  type = object({
    domain           = optional(string)
    users            = optional(list(string), [])
    pii_viewers      = optional(list(string), [])
    replayers        = optional(list(string), [])
    max_bytes_billed = optional(number, 0)
    cpu              = optional(string, "1")
    memory           = optional(string, "512Mi")
    max_instances    = optional(number, 2)
  })
  default = {}
}

variable "archive_verify" {
  description = "The scheduled hem archive verify job: its cron schedule (UTC), how many days back it compares, its timeout and memory (a day's ids of one type are held at once), and the notification channels (ids) of the alert that fires on a gap."
  type = object({
    schedule              = optional(string, "17 6 * * *")
    days                  = optional(number, 7)
    timeout_minutes       = optional(number, 60)
    memory                = optional(string, "2Gi")
    notification_channels = optional(list(string), [])
  })
  default = {}
}

variable "rollup" {
  description = "The scheduled hem rollup run job: its cron schedule (UTC), the bytes budget of one run (the sum of its dry runs; a run over it is refused, and it is each job's maximum bytes billed), its timeout and memory."
  type = object({
    schedule        = optional(string, "*/15 * * * *")
    max_bytes       = optional(number, 100000000000)
    timeout_minutes = optional(number, 30)
    memory          = optional(string, "512Mi")
  })
  default = {}
}

# Field encryption.

variable "field_readers_group" {
  description = "Google group e-mail of the people who may read encrypted fields in clear: cryptoKeyDecrypter on the field KEK, read access to the keys and events datasets (the <table>_decrypted views). null grants nobody."
  type        = string
  default     = null
}

variable "field_erasers_group" {
  description = "Google group e-mail of the people who run hem erase (and hem keys sync by hand; the keys sync job has its own account): object admin on the registry bucket's keys/ (delete keysets, write the audit record), dataEditor on the keys dataset, bigquery.jobUser. No use of the KEK: erasure deletes wrapped keysets without unwrapping them. null grants nobody."
  type        = string
  default     = null
}

variable "keys_sync" {
  description = "The scheduled hem keys sync job, which repairs the keys table from the key store: its cron schedule (UTC; a keyset the collector failed to copy reads NULL in the <table>_decrypted views until the next run), its timeout (below the schedule's interval, so runs do not overlap) and memory (every object name under keys/ is held at once)."
  type = object({
    schedule        = optional(string, "41 * * * *")
    timeout_minutes = optional(number, 50)
    memory          = optional(string, "512Mi")
  })
  default = {}
}

variable "kms_location" {
  description = "Cloud KMS location of the field KEK's key ring; null takes the BigQuery location in lower case (US -> us), where BigQuery's AEAD functions reach it."
  type        = string
  default     = null
}

variable "kms_protection_level" {
  description = "Protection level of the field KEK: SOFTWARE or HSM."
  type        = string
  default     = "SOFTWARE"

  validation {
    condition     = contains(["SOFTWARE", "HSM"], var.kms_protection_level)
    error_message = "kms_protection_level must be SOFTWARE or HSM."
  }
}
