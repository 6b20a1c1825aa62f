# Two services, one identity: the processor could do whatever the registry can.

resource "google_service_account" "hem" {
  account_id = "hem"
}

resource "google_cloud_run_v2_service" "registry" {
  name     = "hem-registry"
  location = "us-central1"
  ingress  = "INGRESS_TRAFFIC_ALL"

  template {
    service_account = google_service_account.hem.email
    containers {
      image = "example/hem:v1"
    }
  }
}

resource "google_cloud_run_v2_service" "processor" {
  name     = "hem-processor"
  location = "us-central1"
  ingress  = "INGRESS_TRAFFIC_INTERNAL_ONLY"

  template {
    service_account = google_service_account.hem.email
    containers {
      image = "example/hem:v1"
    }
  }
}
