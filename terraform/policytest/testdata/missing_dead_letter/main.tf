# valid/, with the dead-letter policy of hem-events-bigquery removed.

variable "project" {
  description = "Project id."
  type        = string
}

data "google_project" "this" {
  project_id = var.project
}

locals {
  pubsub_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

resource "google_pubsub_topic" "events" {
  name = "hem-events"
}

resource "google_pubsub_topic" "bigquery_dead_letter" {
  name = "hem-events-bigquery-dead-letter"
}

resource "google_pubsub_subscription" "bigquery" {
  name                 = "hem-events-bigquery"
  topic                = google_pubsub_topic.events.id
  ack_deadline_seconds = 60

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }
}

resource "google_pubsub_subscription" "bigquery_dead_letter" {
  name  = "hem-events-bigquery-dead-letter"
  topic = google_pubsub_topic.bigquery_dead_letter.id
}

resource "google_pubsub_topic_iam_member" "agent_publishes_dead_letters" {
  topic  = google_pubsub_topic.bigquery_dead_letter.name
  role   = "roles/pubsub.publisher"
  member = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "agent_acks_source" {
  subscription = google_pubsub_subscription.bigquery.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

resource "google_service_account" "collector" {
  account_id = "hem-collector"
}

resource "google_service_account" "processor" {
  account_id = "hem-processor"
}

resource "google_cloud_run_v2_service" "collector" {
  name     = "hem-collector"
  location = "us-central1"
  ingress  = "INGRESS_TRAFFIC_ALL"

  template {
    service_account = google_service_account.collector.email
    containers {
      image = "example/hem:v1"
    }
  }
}

resource "google_cloud_run_v2_service_iam_member" "collector_public" {
  name     = google_cloud_run_v2_service.collector.name
  location = google_cloud_run_v2_service.collector.location
  role     = "roles/run.invoker"
  member   = "allUsers"
}

resource "google_cloud_run_v2_service" "processor" {
  name     = "hem-processor"
  location = "us-central1"
  ingress  = "INGRESS_TRAFFIC_INTERNAL_ONLY"

  template {
    service_account = google_service_account.processor.email
    containers {
      image = "example/hem:v1"
    }
  }
}

resource "google_pubsub_subscription_iam_member" "processor" {
  subscription = google_pubsub_subscription.bigquery.name
  role         = "roles/pubsub.subscriber"
  member       = google_service_account.processor.member
}

resource "google_storage_bucket" "archive" {
  name     = "example-hem-archive"
  location = "us-central1"

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
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
