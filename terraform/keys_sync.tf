# hem keys sync, on a schedule: a Cloud Run job repairs the BigQuery keys
# table (PREFIX_keys.field_keys) from the key store, the registry bucket's
# keys/ (the source of truth). It adds every keyset the table lacks (a
# collector's background copy that failed: its fields read NULL in the
# <table>_decrypted views until then) and deletes the rows of every erased
# data subject (a copy a collector was still writing when hem erase ran).
#
# It copies the wrapped keysets as the store holds them: it never unwraps
# one, so it holds no KMS role (fieldcrypt's TestSyncWithoutKMS; --field-kek
# only names the key). It never creates, rewrites or deletes a keyset.
#
# Who may do what:
#
#   keys-sync        objectViewer on the registry bucket: listing (checked on
#                    the bucket) and reading objects under keys/, except hem
#                    erase's audit records under keys/audit/; dataEditor on the
#                    keys dataset and jobUser on the project (a query of the
#                    table's objects, one DML INSERT per thousand missing
#                    keysets, one DELETE of erased subjects' rows). Nothing else:
#                    policytest's keys-sync-least-privilege rule keeps it so,
#                    condition included, and kms-decrypt refuses it the KEK.
#   keys-sync-sched  run.invoker on the keys sync job only (Cloud Scheduler
#                    runs it through the Cloud Run Admin API).
#
# VERIFY: checked with terraform fmt and policytest, not yet applied (the
# condition's listing half on the registry bucket; a run's duration against
# var.keys_sync.timeout_minutes with the deployment's number of keysets).

locals {
  keys_sync_name = "${local.prefix}-keys-sync"
}

resource "google_service_account" "keys_sync" {
  project      = var.project
  account_id   = local.keys_sync_name
  display_name = "hem keys sync"
  description  = "Runs hem keys sync: reads the keysets under the registry bucket's keys/, writes the keys table."
}

resource "google_service_account" "keys_sync_scheduler" {
  project      = var.project
  account_id   = "${local.prefix}-keys-sync-sched"
  display_name = "hem keys sync scheduler"
  description  = "Cloud Scheduler's identity to run the keys sync job."
}

resource "google_cloud_run_v2_job" "keys_sync" {
  project             = var.project
  name                = local.keys_sync_name
  location            = var.region
  deletion_protection = var.deletion_protection
  labels              = merge(local.labels, { component = "keys-sync" })

  template {
    task_count = 1

    template {
      service_account = google_service_account.keys_sync.email
      # Sync is safe to repeat: the next scheduled run does what a failed
      # one did not.
      max_retries = 0
      timeout     = "${var.keys_sync.timeout_minutes * 60}s"

      containers {
        image = var.image
        args = [
          "keys", "sync",
          "--field-keys", local.field_keys_store,
          "--field-kek", local.field_kek_uri,
          "--field-keys-table", local.field_keys_table_id,
        ]

        resources {
          limits = {
            cpu    = "1"
            memory = var.keys_sync.memory
          }
        }
      }
    }
  }

  depends_on = [google_project_service.apis]
}

# The job's grants, all here so that one look (and policytest) sees them.
resource "google_storage_bucket_iam_member" "keys_sync_reader" {
  bucket = module.storage.registry_bucket
  role   = "roles/storage.objectViewer"
  member = google_service_account.keys_sync.member

  condition {
    title       = "only keys/"
    description = "hem keys sync lists the bucket and reads keysets and tombstones under keys/, not hem erase's audit records."
    expression  = "resource.type == \"storage.googleapis.com/Bucket\" || (resource.name.startsWith(\"${local.field_keys_prefix}\") && !resource.name.startsWith(\"${local.field_keys_prefix}audit/\"))"
  }
}

resource "google_bigquery_dataset_iam_member" "keys_sync_keys_editor" {
  project    = var.project
  dataset_id = google_bigquery_dataset.field_keys.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.keys_sync.member
}

resource "google_project_iam_member" "keys_sync_job_user" {
  project = var.project
  role    = "roles/bigquery.jobUser"
  member  = google_service_account.keys_sync.member
}

resource "google_cloud_run_v2_job_iam_member" "keys_sync_scheduler" {
  project  = var.project
  location = var.region
  name     = google_cloud_run_v2_job.keys_sync.name
  role     = "roles/run.invoker"
  member   = google_service_account.keys_sync_scheduler.member
}

resource "google_cloud_scheduler_job" "keys_sync" {
  project     = var.project
  region      = var.region
  name        = local.keys_sync_name
  description = "Runs hem keys sync."
  schedule    = var.keys_sync.schedule
  time_zone   = "Etc/UTC"

  http_target {
    http_method = "POST"
    uri         = "https://run.googleapis.com/v2/projects/${var.project}/locations/${var.region}/jobs/${google_cloud_run_v2_job.keys_sync.name}:run"

    oauth_token {
      service_account_email = google_service_account.keys_sync_scheduler.email
      scope                 = "https://www.googleapis.com/auth/cloud-platform"
    }
  }

  depends_on = [google_project_service.archive_verify, google_cloud_run_v2_job_iam_member.keys_sync_scheduler]
}
