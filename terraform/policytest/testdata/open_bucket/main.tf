# Public access prevention inherited from the project, ACLs allowed.

resource "google_storage_bucket" "archive" {
  name     = "example-hem-archive"
  location = "us-central1"

  public_access_prevention = "inherited"
}
