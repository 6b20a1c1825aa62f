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

module "archive_verify" {
  source = "./modules/scheduled_job"

  project             = var.project
  region              = var.region
  name                = local.archive_verify_name
  title               = "archive verify"
  description         = "Runs hem archive verify: reads the archive's events/ and the events dataset."
  image               = var.image
  deletion_protection = var.deletion_protection
  labels              = local.labels
  # Run without retries: a gap is an answer, not a failure to retry.
  command = ["archive", "verify"]
  args = [
    "--since", "${var.archive_verify.days}d",
    "--bucket", module.storage.archive_bucket,
    "--prefix", local.archive_events_prefix,
    "--to", "bigquery",
    "--project", var.project,
    "--dataset", module.bigquery.events_dataset_id,
  ]
  memory          = var.archive_verify.memory
  timeout_minutes = var.archive_verify.timeout_minutes
  schedule        = var.archive_verify.schedule

  depends_on = [google_project_service.apis, google_project_service.archive_verify]
}

# Where these lived before modules/scheduled_job: moved, not destroyed and
# created again.
moved {
  from = google_service_account.archive_verify
  to   = module.archive_verify.google_service_account.this
}

moved {
  from = google_service_account.archive_verify_scheduler
  to   = module.archive_verify.google_service_account.scheduler
}

moved {
  from = google_cloud_run_v2_job.archive_verify
  to   = module.archive_verify.google_cloud_run_v2_job.this
}

moved {
  from = google_cloud_run_v2_job_iam_member.archive_verify_scheduler
  to   = module.archive_verify.google_cloud_run_v2_job_iam_member.scheduler
}

moved {
  from = google_cloud_scheduler_job.archive_verify
  to   = module.archive_verify.google_cloud_scheduler_job.this
}

# The job's grants, all here so that one look (and policytest) sees them.
resource "google_storage_bucket_iam_member" "archive_verify_reader" {
  bucket = module.storage.archive_bucket
  role   = "roles/storage.objectViewer"
  member = module.archive_verify.service_account_member

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
  member     = module.archive_verify.service_account_member
}

resource "google_project_iam_member" "archive_verify_job_user" {
  project = var.project
  role    = "roles/bigquery.jobUser"
  member  = module.archive_verify.service_account_member
}

# One count per gap line, labelled with the event type.
resource "google_logging_metric" "archive_verify_gaps" {
  project = var.project
  name    = "${local.dataset_prefix}_archive_verify_gaps"
  filter  = "resource.type=\"cloud_run_job\" AND resource.labels.job_name=\"${module.archive_verify.name}\" AND jsonPayload.msg=\"archive verify gap\""

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
