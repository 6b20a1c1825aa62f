output "secret_ids" {
  description = "Label to secret id (the short name Cloud Run references)."
  value       = { for k, s in google_secret_manager_secret.this : k => s.secret_id }
}

output "secrets" {
  description = "Label to full secret name (projects/P/secrets/ID)."
  value       = { for k, s in google_secret_manager_secret.this : k => s.id }
}
