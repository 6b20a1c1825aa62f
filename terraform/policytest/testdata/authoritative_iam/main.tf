# Authoritative project IAM wipes every grant terraform does not know about.

resource "google_project_iam_binding" "invokers" {
  project = "example"
  role    = "roles/run.invoker"
  members = ["serviceAccount:hem-ci@example.iam.gserviceaccount.com"]
}
