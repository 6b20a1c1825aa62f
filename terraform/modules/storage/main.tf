# Cloud Storage for hem: the event archive (immutable Parquet objects that move to
# colder storage classes as they age) and the registry's store (versioned, so a
# bad write can be undone). Both buckets use uniform bucket-level access and
# enforce public access prevention: nothing in them is ever public.

resource "google_storage_bucket" "archive" {
  project       = var.project
  name          = var.archive_bucket_name
  location      = var.location
  storage_class = "STANDARD"
  labels        = var.labels
  force_destroy = var.force_destroy

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  soft_delete_policy {
    retention_duration_seconds = var.soft_delete_retention_days * 86400
  }

  # Archive objects are written once and read rarely (replay, audits): move them
  # down the storage classes by age. Each rule matches only the class before it,
  # so an object moves one step at a time and never back.
  lifecycle_rule {
    condition {
      age                   = var.archive_nearline_after_days
      matches_storage_class = ["STANDARD"]
    }
    action {
      type          = "SetStorageClass"
      storage_class = "NEARLINE"
    }
  }

  lifecycle_rule {
    condition {
      age                   = var.archive_coldline_after_days
      matches_storage_class = ["NEARLINE"]
    }
    action {
      type          = "SetStorageClass"
      storage_class = "COLDLINE"
    }
  }

  lifecycle_rule {
    condition {
      age                   = var.archive_archive_after_days
      matches_storage_class = ["COLDLINE"]
    }
    action {
      type          = "SetStorageClass"
      storage_class = "ARCHIVE"
    }
  }

  # failed/ holds failed events (the original event, its PII handled as the
  # contract says, for inspection and replay): they go when the failed-events
  # table drops them, never kept for ever.
  lifecycle_rule {
    condition {
      age            = var.failed_delete_after_days
      matches_prefix = ["failed/"]
    }
    action {
      type = "Delete"
    }
  }

  # Each event type's own retention, from its contract (hem schema lifecycle):
  # delete at archive_retention_days, move to a colder class at
  # archive_cold_after_days. Types with equal settings share a rule. GCS
  # prefers Delete over any move, and among moves the coldest class.
  dynamic "lifecycle_rule" {
    for_each = var.archive_type_rules
    content {
      condition {
        age                   = lifecycle_rule.value.age_days
        matches_prefix        = lifecycle_rule.value.matches_prefix
        matches_storage_class = lifecycle_rule.value.matches_storage_class
      }
      action {
        type          = lifecycle_rule.value.action
        storage_class = lifecycle_rule.value.storage_class
      }
    }
  }

  dynamic "lifecycle_rule" {
    for_each = var.archive_delete_after_days == null ? [] : [var.archive_delete_after_days]
    content {
      condition {
        age = lifecycle_rule.value
      }
      action {
        type = "Delete"
      }
    }
  }
}

resource "google_storage_bucket" "registry" {
  project       = var.project
  name          = var.registry_bucket_name
  location      = var.location
  storage_class = "STANDARD"
  labels        = var.labels
  force_destroy = var.force_destroy

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  # Schema versions are immutable and the registry writes with generation
  # preconditions; versioning is the undo button for anything else.
  versioning {
    enabled = true
  }

  soft_delete_policy {
    retention_duration_seconds = var.soft_delete_retention_days * 86400
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.registry_noncurrent_retention_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }
}

resource "google_storage_bucket_iam_member" "archive" {
  for_each = var.archive_access

  bucket = google_storage_bucket.archive.name
  role   = each.value.role
  member = each.value.member

  dynamic "condition" {
    for_each = each.value.prefix == null ? [] : [each.value.prefix]
    content {
      title       = "only ${condition.value}"
      description = "Objects under ${condition.value} only (bucket-level checks such as listing still apply to the bucket)."
      # Object permissions are checked on the object's resource name; listing is
      # checked on the bucket, which the first clause admits.
      expression = "resource.type == \"storage.googleapis.com/Bucket\" || resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.archive.name}/objects/${condition.value}\")"
    }
  }
}

resource "google_storage_bucket_iam_member" "registry" {
  for_each = var.registry_object_admins

  bucket = google_storage_bucket.registry.name
  role   = "roles/storage.objectAdmin"
  member = each.value
}
