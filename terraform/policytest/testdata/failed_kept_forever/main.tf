# The archive deletes old events, but failed/ (failed events, kept for replay)
# stays for ever: a rule without the prefix, and one that only changes class.

resource "google_storage_bucket" "archive" {
  name     = "example-hem-archive"
  location = "us-central1"

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  lifecycle_rule {
    condition {
      age = 365
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age            = 30
      matches_prefix = ["failed/"]
    }
    action {
      type          = "SetStorageClass"
      storage_class = "COLDLINE"
    }
  }
}
