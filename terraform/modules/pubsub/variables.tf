variable "project" {
  description = "Google Cloud project id."
  type        = string
}

variable "topics" {
  description = "Names of the topics producers publish to (hem-events, hem-failed)."
  type        = set(string)
}

variable "subscriptions" {
  description = <<-EOT
    One pull subscription per sink, keyed by subscription name. Each gets its own
    dead-letter topic and dead-letter subscription, both named "<name>-dead-letter".
    topic is a name from var.topics; filter is an optional Pub/Sub filter, e.g.
    attributes.hem-type = "shop.orders.v1.OrderPlaced".
  EOT
  type = map(object({
    topic  = string
    filter = optional(string)
  }))

  validation {
    condition     = alltrue([for name, s in var.subscriptions : !endswith(name, "-dead-letter")])
    error_message = "The suffix -dead-letter is reserved for the dead-letter subscriptions this module creates."
  }
}

variable "ack_deadline_seconds" {
  description = <<-EOT
    Ack deadline of the sink subscriptions. A processor holds each message until the
    batch that carries it (flushed by count, bytes, or after a few seconds) is durable
    in its sink, and only then acks; 60 s covers the batch window plus a slow BigQuery
    or GCS write with room to spare. The client library extends leases while a batch is
    in flight, so this is the floor, not the ceiling: shorter means duplicate deliveries
    under load, longer means slower redelivery after a processor crash.
  EOT
  type        = number
  default     = 60

  validation {
    condition     = var.ack_deadline_seconds >= 10 && var.ack_deadline_seconds <= 600
    error_message = "Pub/Sub accepts ack deadlines from 10 to 600 seconds."
  }
}

variable "max_delivery_attempts" {
  description = <<-EOT
    Deliveries of a message before Pub/Sub moves it to the subscription's dead-letter
    topic. The processor already sends permanent failures to hem-failed and acks them;
    what reaches the dead-letter topic is what kept failing transiently (a sink outage
    longer than the retry budget, a poison message). With the default backoff, 15
    attempts span roughly 90 minutes.
  EOT
  type        = number
  default     = 15

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "Pub/Sub accepts 5 to 100 delivery attempts."
  }
}

variable "minimum_backoff" {
  description = "First redelivery delay after a nack; doubles on every attempt up to maximum_backoff."
  type        = string
  default     = "10s"
}

variable "maximum_backoff" {
  description = "Longest redelivery delay after a nack (at most 600s)."
  type        = string
  default     = "600s"
}

variable "message_retention_duration" {
  description = "How long unacknowledged messages stay in a subscription: 7 days, Pub/Sub's maximum, so a stalled sink loses nothing for a week."
  type        = string
  default     = "604800s"
}

variable "dead_letter_topic_retention" {
  description = "How long dead-letter topics keep messages for seeking back (up to 31 days)."
  type        = string
  default     = "2678400s"
}

variable "enable_message_ordering" {
  description = "Deliver messages with the same ordering key (the event's entity key, when the collector sets it) in order. Changing it recreates the subscriptions."
  type        = bool
  default     = false
}

variable "message_storage_regions" {
  description = "Regions where Pub/Sub may persist messages (data residency); empty means Google's default policy."
  type        = list(string)
  default     = []
}

variable "publishers" {
  description = "roles/pubsub.publisher grants, keyed by a stable label: topic (a name from var.topics) and member (e.g. serviceAccount:x@p.iam.gserviceaccount.com)."
  type = map(object({
    topic  = string
    member = string
  }))
  default = {}
}

variable "subscribers" {
  description = "roles/pubsub.subscriber grants, keyed by a stable label: subscription (a key of var.subscriptions) and member."
  type = map(object({
    subscription = string
    member       = string
  }))
  default = {}
}

variable "labels" {
  description = "Labels on every topic and subscription."
  type        = map(string)
  default     = {}
}
