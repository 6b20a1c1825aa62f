output "name" {
  description = "Cloud Run service name."
  value       = google_cloud_run_v2_service.this.name
}

output "id" {
  description = "Full service id (projects/P/locations/R/services/NAME)."
  value       = google_cloud_run_v2_service.this.id
}

output "uri" {
  description = "The service's https:// URL."
  value       = google_cloud_run_v2_service.this.uri
}

output "service_account_email" {
  description = "E-mail of the service's own service account."
  value       = google_service_account.this.email
}

output "service_account_member" {
  description = "The service account as an IAM member (serviceAccount:EMAIL)."
  value       = google_service_account.this.member
}
