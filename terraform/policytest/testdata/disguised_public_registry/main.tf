# Named like the collector's binding, but it opens the registry.

resource "google_cloud_run_v2_service_iam_member" "collector_public" {
  name     = google_cloud_run_v2_service.registry.name
  location = "us-central1"
  role     = "roles/run.invoker"
  member   = "allAuthenticatedUsers"
}
