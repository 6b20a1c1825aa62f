variable "project" {
  description = "Google Cloud project id."
  type        = string
}

variable "region" {
  description = "Region of the Cloud Run job and of its Cloud Scheduler job."
  type        = string
}

variable "name" {
  description = "Job name; also the job's service account id, and with -sched appended its scheduler's, so at most 24 characters."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,22}[a-z0-9]$", var.name))
    error_message = "name must be 6 to 24 lowercase letters, digits or hyphens, starting with a letter (with -sched appended it is a service account id, at most 30 characters)."
  }
}

variable "title" {
  description = "What the job is called in prose, e.g. \"archive verify\": the accounts' display names, and with spaces as hyphens the job's component label."
  type        = string
}

variable "description" {
  description = "The job's service account description: which hem command it runs and what it reads and writes."
  type        = string
}

variable "image" {
  description = "Container image, e.g. REGION-docker.pkg.dev/PROJECT/hem/hem:TAG (a digest, @sha256:..., pins it exactly)."
  type        = string
}

variable "command" {
  description = "The hem subcommand, e.g. [\"rollup\", \"run\"]: the container's first arguments, and the Cloud Scheduler job's description."
  type        = list(string)
}

variable "args" {
  description = "The subcommand's flags, after command."
  type        = list(string)
  default     = []
}

variable "env" {
  description = "Plain environment variables. hem reads every flag --foo-bar from HEM_FOO_BAR."
  type        = map(string)
  default     = {}
}

variable "memory" {
  description = "Memory of the job's task, e.g. \"512Mi\" or \"2Gi\"."
  type        = string
}

variable "timeout_minutes" {
  description = "How long one run may take; keep it below the schedule's interval so that runs do not overlap."
  type        = number
}

variable "schedule" {
  description = "Cron schedule (UTC) of the runs."
  type        = string
}

variable "deletion_protection" {
  description = "Refuse to destroy the Cloud Run job from terraform."
  type        = bool
  default     = true
}

variable "labels" {
  description = "Labels of the Cloud Run job; the module adds component."
  type        = map(string)
  default     = {}
}
