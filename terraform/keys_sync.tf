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

module "keys_sync" {
  source = "./modules/scheduled_job"

  project             = var.project
  region              = var.region
  name                = local.keys_sync_name
  title               = "keys sync"
  description         = "Runs hem keys sync: reads the keysets under the registry bucket's keys/, writes the keys table."
  image               = var.image
  deletion_protection = var.deletion_protection
  labels              = local.labels
  # Run without retries: sync is safe to repeat, the next scheduled run does
  # what a failed one did not.
  command = ["keys", "sync"]
  args = [
    "--field-keys", local.field_keys_store,
    "--field-kek", local.field_kek_uri,
    "--field-keys-table", local.field_keys_table_id,
  ]
  memory          = var.keys_sync.memory
  timeout_minutes = var.keys_sync.timeout_minutes
  schedule        = var.keys_sync.schedule

  depends_on = [google_project_service.apis, google_project_service.archive_verify]
}

# Where these lived before modules/scheduled_job: moved, not destroyed and
# created again.
moved {
  from = google_service_account.keys_sync
  to   = module.keys_sync.google_service_account.this
}

moved {
  from = google_service_account.keys_sync_scheduler
  to   = module.keys_sync.google_service_account.scheduler
}

moved {
  from = google_cloud_run_v2_job.keys_sync
  to   = module.keys_sync.google_cloud_run_v2_job.this
}

moved {
  from = google_cloud_run_v2_job_iam_member.keys_sync_scheduler
  to   = module.keys_sync.google_cloud_run_v2_job_iam_member.scheduler
}

moved {
  from = google_cloud_scheduler_job.keys_sync
  to   = module.keys_sync.google_cloud_scheduler_job.this
}

# The job's grants, all here so that one look (and policytest) sees them.
resource "google_storage_bucket_iam_member" "keys_sync_reader" {
  bucket = module.storage.registry_bucket
  role   = "roles/storage.objectViewer"
  member = module.keys_sync.service_account_member

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
  member     = module.keys_sync.service_account_member
}

resource "google_project_iam_member" "keys_sync_job_user" {
  project = var.project
  role    = "roles/bigquery.jobUser"
  member  = module.keys_sync.service_account_member
}
