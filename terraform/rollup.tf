# hem rollup run, on a schedule: a Cloud Run job recomputes every registered
# rollup's day partitions touched since its last run (one WRITE_TRUNCATE query
# job per partition, after a dry run checked against var.rollup.max_bytes),
# reading the events dataset's dedup views and writing the rollups dataset.
#
# Who may do what:
#
#   rollup        jobUser on the project (its queries), dataViewer on the
#                 events dataset, dataEditor on the rollups dataset only,
#                 run.invoker on the registry (it reads the rollup contracts).
#                 Nothing else: policytest's rollup-least-privilege rule keeps
#                 it so.
#   rollup-sched  run.invoker on the rollup job only (Cloud Scheduler runs it
#                 through the Cloud Run Admin API).
#
# VERIFY: checked with terraform fmt and policytest, not yet applied.

locals {
  rollup_name = "${local.prefix}-rollup"
}

resource "google_bigquery_dataset" "rollups" {
  project       = var.project
  dataset_id    = "${local.dataset_prefix}_rollups"
  friendly_name = "hem rollups"
  description   = "hem rollup tables: aggregates declared as contracts (option (hem.options.v1.rollup)), computed by hem rollup run from one row per event id, day-partitioned on the bucket, each expiring after its rollup's retention_days."
  location      = local.bigquery_location
  labels        = local.labels

  delete_contents_on_destroy = false
}

resource "google_bigquery_dataset_iam_member" "rollups_analysts" {
  count      = var.analysts_group == null ? 0 : 1
  project    = var.project
  dataset_id = google_bigquery_dataset.rollups.dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = "group:${var.analysts_group}"
}

resource "google_service_account" "rollup" {
  project      = var.project
  account_id   = local.rollup_name
  display_name = "hem rollup"
  description  = "Runs hem rollup run: reads the events dataset, writes the rollups dataset."
}

resource "google_service_account" "rollup_scheduler" {
  project      = var.project
  account_id   = "${local.prefix}-rollup-sched"
  display_name = "hem rollup scheduler"
  description  = "Cloud Scheduler's identity to run the rollup job."
}

resource "google_cloud_run_v2_job" "rollup" {
  project             = var.project
  name                = local.rollup_name
  location            = var.region
  deletion_protection = var.deletion_protection
  labels              = merge(local.labels, { component = "rollup" })

  template {
    task_count = 1

    template {
      service_account = google_service_account.rollup.email
      # The next scheduled run does what a failed one did not: a run moves
      # a rollup's watermark only after all its partitions are replaced.
      max_retries = 0
      timeout     = "${var.rollup.timeout_minutes * 60}s"

      containers {
        image = var.image
        args = [
          "rollup", "run",
          "--bigquery-project", var.project,
          "--bigquery-dataset", module.bigquery.events_dataset_id,
          "--rollup-dataset", google_bigquery_dataset.rollups.dataset_id,
          "--bigquery-location", local.bigquery_location,
          "--max-bytes", tostring(var.rollup.max_bytes),
        ]
        env {
          name  = "HEM_REGISTRY"
          value = module.registry.uri
        }

        resources {
          limits = {
            cpu    = "1"
            memory = var.rollup.memory
          }
        }
      }
    }
  }

  depends_on = [google_project_service.apis]
}

# The job's grants, all here so that one look (and policytest) sees them.
resource "google_project_iam_member" "rollup_job_user" {
  project = var.project
  role    = "roles/bigquery.jobUser"
  member  = google_service_account.rollup.member
}

resource "google_bigquery_dataset_iam_member" "rollup_events_viewer" {
  project    = var.project
  dataset_id = module.bigquery.events_dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = google_service_account.rollup.member
}

resource "google_bigquery_dataset_iam_member" "rollup_rollups_editor" {
  project    = var.project
  dataset_id = google_bigquery_dataset.rollups.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.rollup.member
}

resource "google_cloud_run_v2_job_iam_member" "rollup_scheduler" {
  project  = var.project
  location = var.region
  name     = google_cloud_run_v2_job.rollup.name
  role     = "roles/run.invoker"
  member   = google_service_account.rollup_scheduler.member
}

resource "google_cloud_scheduler_job" "rollup" {
  project     = var.project
  region      = var.region
  name        = local.rollup_name
  description = "Runs hem rollup run."
  schedule    = var.rollup.schedule
  time_zone   = "Etc/UTC"

  http_target {
    http_method = "POST"
    uri         = "https://run.googleapis.com/v2/projects/${var.project}/locations/${var.region}/jobs/${google_cloud_run_v2_job.rollup.name}:run"

    oauth_token {
      service_account_email = google_service_account.rollup_scheduler.email
      scope                 = "https://www.googleapis.com/auth/cloud-platform"
    }
  }

  depends_on = [google_project_service.archive_verify, google_cloud_run_v2_job_iam_member.rollup_scheduler]
}
