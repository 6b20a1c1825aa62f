# Dead-letter subscriptions are recognised by name, also when it is computed:
# neither of these needs a dead-letter policy of its own.

variable "sinks" {
  description = "Sink subscription names."
  type        = set(string)
}

resource "google_pubsub_subscription" "dead_letter" {
  for_each = var.sinks

  name  = "${each.key}-dead-letter"
  topic = "${each.key}-dead-letter"
}

resource "google_pubsub_subscription" "archive_dead_letter" {
  name  = "hem-events-archive-dead-letter"
  topic = "hem-events-archive-dead-letter"
}
