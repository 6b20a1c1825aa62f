# A processor reachable from the internet, and one that forgot to say.

resource "google_service_account" "a" {
  account_id = "hem-processor-a"
}

resource "google_service_account" "b" {
  account_id = "hem-processor-b"
}

resource "google_cloud_run_v2_service" "processor_a" {
  name     = "hem-processor-a"
  location = "us-central1"
  ingress  = "INGRESS_TRAFFIC_ALL"

  template {
    service_account = google_service_account.a.email
    containers {
      image = "example/hem:v1"
    }
  }
}

resource "google_cloud_run_v2_service" "processor_b" {
  name     = "hem-processor-b"
  location = "us-central1"

  template {
    service_account = google_service_account.b.email
    containers {
      image = "example/hem:v1"
    }
  }
}
