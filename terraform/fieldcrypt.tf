# Field encryption (issue 17): the key-encryption key (KEK) in Cloud KMS that
# wraps the data keys of fields marked PII_HANDLING_ENCRYPT*, and the BigQuery
# table of wrapped keysets that the <table>_decrypted views join.
#
# The collector encrypts fields with Tink keysets, one per event type or per
# data subject (fieldcrypt). It creates a missing keyset, wraps it with the KEK
# (encrypt) and stores it; for every keyset that exists already (a returning
# member, a restart, the cache's time to live) it unwraps the stored copy
# (decrypt). So the collector holds cryptoKeyEncrypterDecrypter: with encrypt
# alone it could only ever create keys, never use the ones it made. It sees
# every field in clear on ingest anyway, so decrypt gives it nothing it lacks.
#
# Who may do what:
#
#   collector            cryptoKeyEncrypterDecrypter on the KEK (the only one who
#                        may encrypt); objectViewer and objectCreator on the
#                        registry bucket's keys/ except keys/audit/ (reads
#                        keysets and tombstones, adds keysets; never deletes
#                        or rewrites one);
#                        dataEditor on the keys dataset and bigquery.jobUser
#                        (copies each keyset it creates into the keys table,
#                        a DML INSERT: streamed rows could not be deleted by an
#                        erasure for up to 90 minutes).
#   field_erasers_group  objectAdmin on the registry bucket's keys/ (hem erase
#                        deletes every generation of a subject's keysets and
#                        writes its audit record under keys/audit/erasures/);
#                        dataEditor on the keys dataset and jobUser (DELETE of
#                        the subject's rows; hem keys sync). No KMS role.
#   keys-sync            (keys_sync.tf, scheduled hem keys sync) objectViewer on
#                        keys/ except keys/audit/, dataEditor on the keys
#                        dataset and jobUser. No KMS role: it copies keysets
#                        wrapped.
#   registry,            metadataViewer on the keys dataset: they create the
#   processor-bigquery   <table>_decrypted views, which name the keys table.
#   field_readers_group  cryptoKeyDecrypter on the KEK; dataViewer on the keys
#                        and events datasets; jobUser on the project. Members
#                        query <table>_decrypted (BigQuery unwraps the keyset
#                        with the reader's own KMS permission).
#
# Nobody else may decrypt with the KEK: policytest's kms-decrypt rule refuses
# any other grant of a decrypting role on the key, its key ring or the project.
# Reading the keys table gives nothing without the KEK: its keysets are wrapped.
#
# VERIFY: checked with terraform fmt and policytest, not yet applied (the key
# ring in the BigQuery location's KMS location, e.g. US -> us; that the
# migrators' metadataViewer suffices to create a view naming the keys table).

locals {
  kms_location       = coalesce(var.kms_location, lower(local.bigquery_location))
  field_keys_dataset = "${local.dataset_prefix}_keys"
  field_keys_table   = "field_keys"
  field_readers      = var.field_readers_group == null ? {} : { readers = "group:${var.field_readers_group}" }
  field_erasers      = var.field_erasers_group == null ? {} : { erasers = "group:${var.field_erasers_group}" }
  # The keysets' folder (hem's --field-keys). The registry bucket is
  # versioned: hem erase deletes every generation of a keyset, and the
  # bucket's soft delete keeps them for soft_delete_retention_days.
  field_keys_store    = "gs://${module.storage.registry_bucket}/keys/"
  field_keys_prefix   = "projects/_/buckets/${module.storage.registry_bucket}/objects/keys/"
  field_keys_table_id = "${var.project}.${local.field_keys_dataset}.${local.field_keys_table}"
  # The KEK as Tink and BigQuery's KEYS.KEYSET_CHAIN name it.
  field_kek_uri = "gcp-kms://${google_kms_crypto_key.field_kek.id}"
}

resource "google_project_service" "kms" {
  project            = var.project
  service            = "cloudkms.googleapis.com"
  disable_on_destroy = false
}

resource "google_kms_key_ring" "fields" {
  project  = var.project
  name     = "${local.prefix}-fields"
  location = local.kms_location

  depends_on = [google_project_service.kms]
}

# Rotation adds a key version that wraps new keysets; the older versions
# still unwrap the keysets they wrapped (the version is in the ciphertext).
# Destroying the key would make every encrypted field unreadable for ever.
resource "google_kms_crypto_key" "field_kek" {
  name            = "${local.prefix}-field-kek"
  key_ring        = google_kms_key_ring.fields.id
  purpose         = "ENCRYPT_DECRYPT"
  rotation_period = "7776000s" # 90 days
  labels          = local.labels

  version_template {
    algorithm        = "GOOGLE_SYMMETRIC_ENCRYPTION"
    protection_level = var.kms_protection_level
  }

  lifecycle {
    prevent_destroy = true
  }
}

resource "google_kms_crypto_key_iam_member" "collector_field_kek" {
  crypto_key_id = google_kms_crypto_key.field_kek.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = module.collector.service_account_member
}

resource "google_kms_crypto_key_iam_member" "field_readers_kek" {
  for_each = local.field_readers

  crypto_key_id = google_kms_crypto_key.field_kek.id
  role          = "roles/cloudkms.cryptoKeyDecrypter"
  member        = each.value
}

# The wrapped keysets, one row per keyset (fieldcrypt's Name.Object is the
# row's identity; the first row of an object is the keyset). hem erase deletes
# a data subject's rows; the dataset keeps the shortest time travel BigQuery
# allows, so erased keysets leave it (and its 7-day fail-safe) soonest.
resource "google_bigquery_dataset" "field_keys" {
  project       = var.project
  dataset_id    = local.field_keys_dataset
  friendly_name = "hem field keys"
  description   = "Tink keysets of hem's encrypted fields, wrapped by the Cloud KMS key ${google_kms_crypto_key.field_kek.id}; joined by the <table>_decrypted views."
  location      = local.bigquery_location
  labels        = local.labels

  max_time_travel_hours      = 48
  delete_contents_on_destroy = false

  depends_on = [google_project_service.apis]
}

resource "google_bigquery_table" "field_keys" {
  project             = var.project
  dataset_id          = google_bigquery_dataset.field_keys.dataset_id
  table_id            = local.field_keys_table
  description         = "One wrapped Tink keyset per row: per event type (subject_field NULL) or per data subject."
  deletion_protection = var.deletion_protection
  labels              = local.labels
  clustering          = ["event_type", "subject_field", "subject"]

  schema = jsonencode([
    { name = "object", type = "STRING", mode = "REQUIRED", description = "The keyset's name in the key store (fieldcrypt Name.Object)." },
    { name = "event_type", type = "STRING", mode = "REQUIRED", description = "Event type (the message's full name) whose fields the keyset encrypts." },
    { name = "kind", type = "STRING", mode = "REQUIRED", description = "aead (PII_HANDLING_ENCRYPT) or daead (PII_HANDLING_ENCRYPT_DETERMINISTIC)." },
    { name = "subject_field", type = "STRING", mode = "NULLABLE", description = "The data_subject_field of a per-subject keyset; NULL for the event type's." },
    { name = "subject", type = "STRING", mode = "NULLABLE", description = "The data subject's value (integers in decimal); NULL for the event type's keyset." },
    { name = "wrapped_keyset", type = "BYTES", mode = "REQUIRED", description = "The serialized keyset encrypted by the KEK, empty associated data: KEYS.KEYSET_CHAIN's second argument." },
    { name = "created_at", type = "TIMESTAMP", mode = "REQUIRED", description = "When the collector created the keyset." },
  ])
}

resource "google_bigquery_dataset_iam_member" "collector_field_keys" {
  project    = var.project
  dataset_id = google_bigquery_dataset.field_keys.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = module.collector.service_account_member
}

resource "google_bigquery_dataset_iam_member" "migrators_field_keys" {
  for_each = {
    registry           = module.registry.service_account_member
    processor-bigquery = module.processor["bigquery"].service_account_member
  }

  project    = var.project
  dataset_id = google_bigquery_dataset.field_keys.dataset_id
  role       = "roles/bigquery.metadataViewer"
  member     = each.value
}

resource "google_bigquery_dataset_iam_member" "field_readers_keys" {
  for_each = local.field_readers

  project    = var.project
  dataset_id = google_bigquery_dataset.field_keys.dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = each.value
}

resource "google_bigquery_dataset_iam_member" "field_readers_events" {
  for_each = local.field_readers

  project    = var.project
  dataset_id = module.bigquery.events_dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = each.value
}

resource "google_project_iam_member" "field_readers_job_user" {
  for_each = local.field_readers

  project = var.project
  role    = "roles/bigquery.jobUser"
  member  = each.value
}

resource "google_storage_bucket_iam_member" "collector_field_keys" {
  for_each = toset(["roles/storage.objectViewer", "roles/storage.objectCreator"])

  bucket = module.storage.registry_bucket
  role   = each.value
  member = module.collector.service_account_member

  condition {
    title       = "only keys/"
    description = "The collector reads and creates field keysets; it lists nothing, and may not add to hem erase's audit records."
    expression  = "resource.name.startsWith(\"${local.field_keys_prefix}\") && !resource.name.startsWith(\"${local.field_keys_prefix}audit/\")"
  }
}

# The keys table's rows are written with DML (a query job).
resource "google_project_iam_member" "collector_job_user" {
  project = var.project
  role    = "roles/bigquery.jobUser"
  member  = module.collector.service_account_member
}

resource "google_storage_bucket_iam_member" "field_erasers_keys" {
  for_each = local.field_erasers

  bucket = module.storage.registry_bucket
  role   = "roles/storage.objectAdmin"
  member = each.value

  condition {
    title       = "only keys/"
    description = "hem erase and hem keys sync list, read and delete keysets and write audit records under keys/ (listing is checked on the bucket)."
    expression  = "resource.type == \"storage.googleapis.com/Bucket\" || resource.name.startsWith(\"${local.field_keys_prefix}\")"
  }
}

resource "google_bigquery_dataset_iam_member" "field_erasers_keys" {
  for_each = local.field_erasers

  project    = var.project
  dataset_id = google_bigquery_dataset.field_keys.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = each.value
}

resource "google_project_iam_member" "field_erasers_job_user" {
  for_each = local.field_erasers

  project = var.project
  role    = "roles/bigquery.jobUser"
  member  = each.value
}
