output "topics" {
  description = "Topic name to full topic id (projects/P/topics/NAME)."
  value       = { for name, t in google_pubsub_topic.this : name => t.id }
}

output "subscriptions" {
  description = "Sink subscription name to full subscription id."
  value       = { for name, s in google_pubsub_subscription.sink : name => s.id }
}

output "dead_letter_topics" {
  description = "Sink subscription name to the id of its dead-letter topic."
  value       = { for name, t in google_pubsub_topic.dead_letter : name => t.id }
}

output "dead_letter_subscriptions" {
  description = "Sink subscription name to the id of the subscription on its dead-letter topic."
  value       = { for name, s in google_pubsub_subscription.dead_letter : name => s.id }
}

output "service_agent" {
  description = "The project's Pub/Sub service agent, which forwards dead letters."
  value       = local.pubsub_service_agent
}

output "topic_names" {
  description = "Topic names, read from the created topics so that consumers of this output wait for them."
  value       = { for name, t in google_pubsub_topic.this : name => t.name }
}

output "subscription_names" {
  description = "Sink subscription names, read from the created subscriptions so that consumers of this output wait for them."
  value       = { for name, s in google_pubsub_subscription.sink : name => s.name }
}
