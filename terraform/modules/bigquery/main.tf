# BigQuery for hem: the events dataset (one table per event type, day-partitioned,
# created and evolved by the registry) and the failed-events dataset. Access is
# granted with dataset-level IAM members, never with primitive roles.

locals {
  day_ms = 24 * 60 * 60 * 1000

  datasets = {
    events = google_bigquery_dataset.events.dataset_id
    failed = google_bigquery_dataset.failed.dataset_id
  }
}

resource "google_bigquery_dataset" "events" {
  project       = var.project
  dataset_id    = var.events_dataset_id
  friendly_name = "hem events"
  description   = "hem event tables: one table per event type (subject), day-partitioned, managed by the hem registry. Query the *_dedup views for one row per _event_id."
  location      = var.location
  labels        = var.labels

  default_partition_expiration_ms = var.events_partition_expiration_days == null ? null : var.events_partition_expiration_days * local.day_ms
  max_time_travel_hours           = var.max_time_travel_hours
  delete_contents_on_destroy      = false
}

resource "google_bigquery_dataset" "failed" {
  project       = var.project
  dataset_id    = var.failed_dataset_id
  friendly_name = "hem failed events"
  description   = "Events hem could not accept or load (table _failed_events): stage, reason, violations and the original bytes, for inspection and replay."
  location      = var.location
  labels        = var.labels

  default_partition_expiration_ms = var.failed_partition_expiration_days == null ? null : var.failed_partition_expiration_days * local.day_ms
  max_time_travel_hours           = var.max_time_travel_hours
  delete_contents_on_destroy      = false
}

resource "google_bigquery_dataset_iam_member" "analysts" {
  count = var.analysts_group == null ? 0 : 1

  project    = var.project
  dataset_id = google_bigquery_dataset.events.dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = "group:${var.analysts_group}"
}

resource "google_project_iam_member" "analysts_job_user" {
  count = var.analysts_group != null && var.analysts_job_user ? 1 : 0

  project = var.project
  role    = "roles/bigquery.jobUser"
  member  = "group:${var.analysts_group}"
}

resource "google_bigquery_dataset_iam_member" "failed_readers" {
  for_each = var.failed_readers

  project    = var.project
  dataset_id = google_bigquery_dataset.failed.dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = each.value
}

resource "google_bigquery_dataset_iam_member" "editors" {
  for_each = var.editors

  project    = var.project
  dataset_id = local.datasets[each.value.dataset]
  role       = "roles/bigquery.dataEditor"
  member     = each.value.member
}
