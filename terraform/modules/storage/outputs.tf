output "archive_bucket" {
  description = "Name of the event archive bucket."
  value       = google_storage_bucket.archive.name
}

output "registry_bucket" {
  description = "Name of the schema registry bucket."
  value       = google_storage_bucket.registry.name
}

output "archive_url" {
  description = "gs:// URL of the event archive bucket."
  value       = google_storage_bucket.archive.url
}

output "registry_url" {
  description = "gs:// URL of the schema registry bucket."
  value       = google_storage_bucket.registry.url
}
