output "name" {
  description = "Cloud Run job name."
  value       = google_cloud_run_v2_job.this.name
}

output "service_account_email" {
  description = "E-mail of the job's own service account."
  value       = google_service_account.this.email
}

output "service_account_member" {
  description = "The job's service account as an IAM member (serviceAccount:EMAIL), for the grants its caller makes."
  value       = google_service_account.this.member
}
