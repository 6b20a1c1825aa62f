# A dead-letter policy the Pub/Sub service agent has no rights to act on.

resource "google_pubsub_subscription" "archive" {
  name                 = "hem-events-archive"
  topic                = "hem-events"
  ack_deadline_seconds = 60

  retry_policy {
    minimum_backoff = "10s"
  }

  dead_letter_policy {
    dead_letter_topic = "projects/example/topics/hem-events-archive-dead-letter"
  }
}
