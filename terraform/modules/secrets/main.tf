# Secret Manager for hem: the API keys file (hashed keys, see internal/auth) and
# the PII salt. Terraform owns the secrets and who may read them, not their values.

resource "google_secret_manager_secret" "this" {
  for_each = var.secrets

  project   = var.project
  secret_id = each.value
  labels    = var.labels

  replication {
    dynamic "auto" {
      for_each = length(var.replica_locations) == 0 ? [1] : []
      content {}
    }

    dynamic "user_managed" {
      for_each = length(var.replica_locations) == 0 ? [] : [1]
      content {
        dynamic "replicas" {
          for_each = var.replica_locations
          content {
            location = replicas.value
          }
        }
      }
    }
  }
}
