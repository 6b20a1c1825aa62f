# hem archive verify, on a schedule: a Cloud Run job compares, per event type
# and day, the distinct event ids in the archive with those in the events
# dataset (query jobs), over the last var.archive_verify.days days up to an
# hour ago. Each gap it finds is one JSON log line ("archive verify gap"); a
# log-based metric counts them and an alert policy fires on one.
#
# Who may do what:
#
#   archive-verify        objectViewer on the archive bucket, under events/ only;
#                         dataViewer on the events dataset and jobUser on the
#                         project (its queries). Nothing else: policytest's
#                         archive-verify-least-privilege rule keeps it so.
#   archive-verify-sched  run.invoker on the verify job only (Cloud Scheduler
#                         runs it through the Cloud Run Admin API).
#
# VERIFY: checked with terraform fmt and policytest, not yet applied (the job's
# logs as jsonPayload.msg, the metric's label extractor).

locals {
  archive_verify_name = "${local.prefix}-archive-verify"
}

resource "google_project_service" "archive_verify" {
  project            = var.project
  service            = "cloudscheduler.googleapis.com"
  disable_on_destroy = false
}

resource "google_service_account" "archive_verify" {
  project      = var.project
  account_id   = local.archive_verify_name
  display_name = "hem archive verify"
  description  = "Runs hem archive verify: reads the archive's events/ and the events dataset."
}

resource "google_service_account" "archive_verify_scheduler" {
  project      = var.project
  account_id   = "${local.prefix}-archive-verify-sched"
  display_name = "hem archive verify scheduler"
  description  = "Cloud Scheduler's identity to run the archive verify job."
}

resource "google_cloud_run_v2_job" "archive_verify" {
  project             = var.project
  name                = local.archive_verify_name
  location            = var.region
  deletion_protection = var.deletion_protection
  labels              = merge(local.labels, { component = "archive-verify" })

  template {
    task_count = 1

    template {
      service_account = google_service_account.archive_verify.email
      # A gap is an answer, not a failure to retry.
      max_retries = 0
      timeout     = "${var.archive_verify.timeout_minutes * 60}s"

      containers {
        image = var.image
        args = [
          "archive", "verify",
          "--since", "${var.archive_verify.days}d",
          "--bucket", module.storage.archive_bucket,
          "--prefix", local.archive_events_prefix,
          "--to", "bigquery",
          "--project", var.project,
          "--dataset", module.bigquery.events_dataset_id,
        ]

        resources {
          limits = {
            cpu    = "1"
            memory = var.archive_verify.memory
          }
        }
      }
    }
  }

  depends_on = [google_project_service.apis]
}

# The job's grants, all here so that one look (and policytest) sees them.
resource "google_storage_bucket_iam_member" "archive_verify_reader" {
  bucket = module.storage.archive_bucket
  role   = "roles/storage.objectViewer"
  member = google_service_account.archive_verify.member

  condition {
    title       = "only ${local.archive_events_prefix}"
    description = "Objects under ${local.archive_events_prefix} only (listing is checked on the bucket)."
    expression  = "resource.type == \"storage.googleapis.com/Bucket\" || resource.name.startsWith(\"projects/_/buckets/${module.storage.archive_bucket}/objects/${local.archive_events_prefix}\")"
  }
}

resource "google_bigquery_dataset_iam_member" "archive_verify_events_viewer" {
  project    = var.project
  dataset_id = module.bigquery.events_dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = google_service_account.archive_verify.member
}

resource "google_project_iam_member" "archive_verify_job_user" {
  project = var.project
  role    = "roles/bigquery.jobUser"
  member  = google_service_account.archive_verify.member
}

resource "google_cloud_run_v2_job_iam_member" "archive_verify_scheduler" {
  project  = var.project
  location = var.region
  name     = google_cloud_run_v2_job.archive_verify.name
  role     = "roles/run.invoker"
  member   = google_service_account.archive_verify_scheduler.member
}

resource "google_cloud_scheduler_job" "archive_verify" {
  project     = var.project
  region      = var.region
  name        = local.archive_verify_name
  description = "Runs hem archive verify."
  schedule    = var.archive_verify.schedule
  time_zone   = "Etc/UTC"

  http_target {
    http_method = "POST"
    uri         = "https://run.googleapis.com/v2/projects/${var.project}/locations/${var.region}/jobs/${google_cloud_run_v2_job.archive_verify.name}:run"

    oauth_token {
      service_account_email = google_service_account.archive_verify_scheduler.email
      scope                 = "https://www.googleapis.com/auth/cloud-platform"
    }
  }

  depends_on = [google_project_service.archive_verify, google_cloud_run_v2_job_iam_member.archive_verify_scheduler]
}

# One count per gap line, labelled with the event type.
resource "google_logging_metric" "archive_verify_gaps" {
  project = var.project
  name    = "${local.dataset_prefix}_archive_verify_gaps"
  filter  = "resource.type=\"cloud_run_job\" AND resource.labels.job_name=\"${google_cloud_run_v2_job.archive_verify.name}\" AND jsonPayload.msg=\"archive verify gap\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "hem archive verify gaps"

    labels {
      key         = "type"
      value_type  = "STRING"
      description = "The event type (subject) of the gap."
    }
  }

  label_extractors = {
    type = "EXTRACT(jsonPayload.type)"
  }
}

resource "google_monitoring_alert_policy" "archive_verify_gap" {
  project      = var.project
  display_name = "hem: the archive and the warehouse differ"
  combiner     = "OR"

  conditions {
    display_name = "hem archive verify found a gap"

    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.archive_verify_gaps.name}\" AND resource.type=\"cloud_run_job\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period   = "600s"
        per_series_aligner = "ALIGN_SUM"
      }

      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "hem archive verify found a day whose event ids differ between the archive and the events dataset. Its log lines (jsonPayload.msg=\"archive verify gap\" in the ${local.archive_verify_name} job) name the type, the day, both counts and a few missing ids. Ids not in the warehouse: replay them from the archive (hem replay --type T --since DAY --until NEXT_DAY). Ids not in the archive: an object was lost or deleted."
  }

  alert_strategy {
    auto_close = "86400s"
  }

  notification_channels = var.archive_verify.notification_channels
  user_labels           = local.labels
}
