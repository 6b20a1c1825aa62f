output "events_dataset_id" {
  description = "Dataset id of the event tables."
  value       = google_bigquery_dataset.events.dataset_id
}

output "failed_dataset_id" {
  description = "Dataset id of the failed-events table."
  value       = google_bigquery_dataset.failed.dataset_id
}

output "events_dataset" {
  description = "Full id of the events dataset (projects/P/datasets/D)."
  value       = google_bigquery_dataset.events.id
}

output "failed_dataset" {
  description = "Full id of the failed-events dataset."
  value       = google_bigquery_dataset.failed.id
}
