variable "project" {
  description = "Google Cloud project id."
  type        = string
}

variable "region" {
  description = "Cloud Run region."
  type        = string
}

variable "name" {
  description = "Service name; also the service account id, so at most 30 characters."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.name))
    error_message = "name must be 6 to 30 lowercase letters, digits or hyphens, starting with a letter (it is also the service account id)."
  }
}

variable "description" {
  description = "What the service does (shown on the service and its service account)."
  type        = string
}

variable "image" {
  description = "Container image, e.g. REGION-docker.pkg.dev/PROJECT/hem/hem:TAG (a digest, @sha256:..., pins it exactly)."
  type        = string
}

variable "args" {
  description = "Container arguments: the hem subcommand, e.g. [\"processor\", \"run\"]. Configuration goes in env."
  type        = list(string)
}

variable "env" {
  description = "Plain environment variables. hem reads every flag --foo-bar from HEM_FOO_BAR."
  type        = map(string)
  default     = {}
}

variable "secret_env" {
  description = "Environment variables read from Secret Manager: name => { secret (id in this project), version }. The service account gets secretAccessor on each secret."
  type = map(object({
    secret  = string
    version = optional(string, "latest")
  }))
  default = {}
}

variable "secret_files" {
  description = "Secrets mounted as files: volume name => { secret, mount_path (a directory), file (name inside it), version }. With version \"latest\" the file follows new secret versions without a redeploy."
  type = map(object({
    secret     = string
    mount_path = string
    file       = string
    version    = optional(string, "latest")
  }))
  default = {}
}

variable "ingress" {
  description = "INGRESS_TRAFFIC_ALL, INGRESS_TRAFFIC_INTERNAL_ONLY or INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER. Required, so every caller decides who can reach the service."
  type        = string

  validation {
    condition     = contains(["INGRESS_TRAFFIC_ALL", "INGRESS_TRAFFIC_INTERNAL_ONLY", "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"], var.ingress)
    error_message = "ingress must be INGRESS_TRAFFIC_ALL, INGRESS_TRAFFIC_INTERNAL_ONLY or INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER."
  }
}

variable "invokers" {
  description = "Members granted roles/run.invoker on this service, keyed by a stable label."
  type        = map(string)
  default     = {}
}

variable "invoker_iam_disabled" {
  description = "Let anyone invoke the service without an IAM check (Cloud Run's public access switch, allowed where domain-restricted sharing refuses an allUsers grant). Only for a service that authenticates its callers itself."
  type        = bool
  default     = false
}

variable "http2" {
  description = "Serve end-to-end HTTP/2 cleartext (h2c) on the container port: required for gRPC streaming. The container must then accept h2c on :8080."
  type        = bool
  default     = false
}

variable "cpu" {
  description = "vCPUs per instance (\"1\", \"2\", \"4\", \"8\")."
  type        = string
  default     = "1"
}

variable "memory" {
  description = "Memory per instance, e.g. \"512Mi\" or \"2Gi\". GOMEMLIMIT defaults to three quarters of it."
  type        = string
  default     = "512Mi"

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi)$", var.memory))
    error_message = "memory must be a whole number of Mi or Gi, e.g. \"512Mi\" or \"2Gi\"."
  }
}

variable "cpu_always_allocated" {
  description = "Keep the CPU allocated between requests (instance-based billing). Required for work that happens outside requests, such as pulling a Pub/Sub subscription; cheaper per vCPU-second when instances are busy anyway."
  type        = bool
  default     = false
}

variable "min_instances" {
  description = "Instances kept running even without traffic."
  type        = number
  default     = 0
}

variable "max_instances" {
  description = "Upper bound of autoscaling: the cost ceiling and the protection of downstream quotas."
  type        = number
  default     = 10

  validation {
    condition     = var.max_instances >= 1
    error_message = "max_instances must be at least 1."
  }
}

variable "concurrency" {
  description = "Concurrent requests (gRPC streams count as one each) per instance before Cloud Run adds an instance."
  type        = number
  default     = 80
}

variable "timeout" {
  description = "Longest request (and gRPC stream) before Cloud Run ends it; clients reconnect."
  type        = string
  default     = "300s"
}

variable "liveness" {
  description = <<-EOT
    Liveness probe on the container port: "none" (only the TCP startup probe),
    "http" (GET health_path, e.g. the collector's /healthz) or "grpc" (the
    grpc.health.v1 service, e.g. the registry's).
  EOT
  type        = string
  default     = "none"

  validation {
    condition     = contains(["none", "http", "grpc"], var.liveness)
    error_message = "liveness must be none, http or grpc."
  }
}

variable "health_path" {
  description = "Path of the HTTP liveness probe."
  type        = string
  default     = "/healthz"
}

variable "project_roles" {
  description = "Project-level roles of the service account: by default only writing its own metrics (hem exports OpenTelemetry metrics to Cloud Monitoring)."
  type        = set(string)
  default     = ["roles/monitoring.metricWriter"]
}

variable "deletion_protection" {
  description = "Refuse to destroy the service from terraform."
  type        = bool
  default     = true
}

variable "labels" {
  description = "Labels on the service."
  type        = map(string)
  default     = {}
}
