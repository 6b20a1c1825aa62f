# Public access prevention inherited from the project, ACLs allowed.

resource "google_storage_bucket" "archive" {
  name     = "example-hem-archive"
  location = "us-central1"

  public_access_prevention = "inherited"
  lifecycle_rule {
    condition {
      age            = 30
      matches_prefix = ["failed/"]
    }
    action {
      type = "Delete"
    }
  }
}
