# Pub/Sub for hem: the topics producers' events travel on, one subscription per
# sink (each sink fails, lags and retries on its own; replicas of a sink share its
# subscription and Pub/Sub spreads the load), and for each subscription its own
# dead-letter topic and subscription.

data "google_project" "this" {
  project_id = var.project
}

locals {
  # The Pub/Sub service agent forwards undeliverable messages to dead-letter
  # topics: it must publish to them and subscribe to (ack on) the source.
  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

resource "google_pubsub_topic" "this" {
  for_each = var.topics

  project = var.project
  name    = each.value
  labels  = var.labels

  dynamic "message_storage_policy" {
    for_each = length(var.message_storage_regions) > 0 ? [1] : []
    content {
      allowed_persistence_regions = var.message_storage_regions
    }
  }
}

resource "google_pubsub_subscription" "sink" {
  for_each = var.subscriptions

  project = var.project
  name    = each.key
  topic   = google_pubsub_topic.this[each.value.topic].id
  filter  = each.value.filter
  labels  = merge(var.labels, { hem-role = "sink" })

  # See var.ack_deadline_seconds: matched to the processor's batching.
  ack_deadline_seconds       = var.ack_deadline_seconds
  message_retention_duration = var.message_retention_duration
  retain_acked_messages      = false
  enable_message_ordering    = var.enable_message_ordering

  # Nacked messages come back after an exponentially growing delay, so a sink
  # outage is not a redelivery storm.
  retry_policy {
    minimum_backoff = var.minimum_backoff
    maximum_backoff = var.maximum_backoff
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter[each.key].id
    max_delivery_attempts = var.max_delivery_attempts
  }

  # Never delete the subscription for inactivity (the default is 31 days).
  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_topic" "dead_letter" {
  for_each = var.subscriptions

  project = var.project
  name    = "${each.key}-dead-letter"
  labels  = merge(var.labels, { hem-role = "dead-letter" })

  # Subscriptions keep messages for 7 days at most; the topic keeps dead letters
  # for 31, so a dead-letter subscription can be seeked back to them after a
  # long weekend. Dead letters are few, so this costs next to nothing.
  message_retention_duration = var.dead_letter_topic_retention

  dynamic "message_storage_policy" {
    for_each = length(var.message_storage_regions) > 0 ? [1] : []
    content {
      allowed_persistence_regions = var.message_storage_regions
    }
  }
}

# A dead-letter topic without a subscription drops what it receives. Operators
# inspect these with "gcloud pubsub subscriptions pull" and republish to the
# source topic once the cause is fixed. They have no dead-letter policy of their
# own: nothing consumes them automatically.
resource "google_pubsub_subscription" "dead_letter" {
  for_each = var.subscriptions

  project = var.project
  name    = "${each.key}-dead-letter"
  topic   = google_pubsub_topic.dead_letter[each.key].id
  labels  = merge(var.labels, { hem-role = "dead-letter" })

  ack_deadline_seconds       = var.ack_deadline_seconds
  message_retention_duration = var.message_retention_duration
  retain_acked_messages      = false

  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_topic_iam_member" "service_agent_dead_letter_publisher" {
  for_each = var.subscriptions

  project = var.project
  topic   = google_pubsub_topic.dead_letter[each.key].name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "service_agent_source_subscriber" {
  for_each = var.subscriptions

  project      = var.project
  subscription = google_pubsub_subscription.sink[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

resource "google_pubsub_topic_iam_member" "publisher" {
  for_each = var.publishers

  project = var.project
  topic   = google_pubsub_topic.this[each.value.topic].name
  role    = "roles/pubsub.publisher"
  member  = each.value.member
}

resource "google_pubsub_subscription_iam_member" "subscriber" {
  for_each = var.subscribers

  project      = var.project
  subscription = google_pubsub_subscription.sink[each.value.subscription].name
  role         = "roles/pubsub.subscriber"
  member       = each.value.member
}
