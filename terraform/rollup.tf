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

module "rollup" {
  source = "./modules/scheduled_job"

  project             = var.project
  region              = var.region
  name                = local.rollup_name
  title               = "rollup"
  description         = "Runs hem rollup run: reads the events dataset, writes the rollups dataset."
  image               = var.image
  deletion_protection = var.deletion_protection
  labels              = local.labels
  # Run without retries: a run moves a rollup's watermark only after all its
  # partitions are replaced, so the next scheduled run does what a failed one
  # did not.
  command = ["rollup", "run"]
  args = [
    "--bigquery-project", var.project,
    "--bigquery-dataset", module.bigquery.events_dataset_id,
    "--rollup-dataset", google_bigquery_dataset.rollups.dataset_id,
    "--bigquery-location", local.bigquery_location,
    "--max-bytes", tostring(var.rollup.max_bytes),
  ]
  env = {
    HEM_REGISTRY = module.registry.uri
  }
  memory          = var.rollup.memory
  timeout_minutes = var.rollup.timeout_minutes
  schedule        = var.rollup.schedule

  depends_on = [google_project_service.apis, google_project_service.archive_verify]
}

# Where these lived before modules/scheduled_job: moved, not destroyed and
# created again.
moved {
  from = google_service_account.rollup
  to   = module.rollup.google_service_account.this
}

moved {
  from = google_service_account.rollup_scheduler
  to   = module.rollup.google_service_account.scheduler
}

moved {
  from = google_cloud_run_v2_job.rollup
  to   = module.rollup.google_cloud_run_v2_job.this
}

moved {
  from = google_cloud_run_v2_job_iam_member.rollup_scheduler
  to   = module.rollup.google_cloud_run_v2_job_iam_member.scheduler
}

moved {
  from = google_cloud_scheduler_job.rollup
  to   = module.rollup.google_cloud_scheduler_job.this
}

# The job's grants, all here so that one look (and policytest) sees them.
resource "google_project_iam_member" "rollup_job_user" {
  project = var.project
  role    = "roles/bigquery.jobUser"
  member  = module.rollup.service_account_member
}

resource "google_bigquery_dataset_iam_member" "rollup_events_viewer" {
  project    = var.project
  dataset_id = module.bigquery.events_dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = module.rollup.service_account_member
}

resource "google_bigquery_dataset_iam_member" "rollup_rollups_editor" {
  project    = var.project
  dataset_id = google_bigquery_dataset.rollups.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = module.rollup.service_account_member
}
