# No service_account: the service runs as the default compute account.

resource "google_cloud_run_v2_service" "processor" {
  name     = "hem-processor"
  location = "us-central1"
  ingress  = "INGRESS_TRAFFIC_INTERNAL_ONLY"

  template {
    containers {
      image = "example/hem:v1"
    }
  }
}
