# Dead letters, but nacks come straight back.

variable "project_number" {
  description = "Project number."
  type        = string
}

resource "google_pubsub_subscription" "archive" {
  name                 = "hem-events-archive"
  topic                = "hem-events"
  ack_deadline_seconds = 60

  dead_letter_policy {
    dead_letter_topic = "projects/example/topics/hem-events-archive-dead-letter"
  }
}

resource "google_pubsub_topic_iam_member" "agent" {
  topic  = "hem-events-archive-dead-letter"
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:service-${var.project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

resource "google_pubsub_subscription_iam_member" "agent" {
  subscription = google_pubsub_subscription.archive.name
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:service-${var.project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}
