output "registry_url" {
  description = "Registry endpoint for hem schema push --registry (Cloud Run IAM: callers need roles/run.invoker)."
  value       = module.registry.uri
}

output "collector_url" {
  description = "Collector endpoint: gRPC and HTTP/JSON (POST) for producers, e.g. hem emit --collector."
  value       = module.collector.uri
}

output "collector_grpc_target" {
  description = "Collector as a gRPC dial target (host:443, TLS)."
  value       = "${trimprefix(module.collector.uri, "https://")}:443"
}

output "processor_urls" {
  description = "Processor health endpoints by sink (internal ingress only)."
  value       = { for sink, p in module.processor : sink => p.uri }
}

output "image_repository" {
  description = "Artifact Registry path to push hem images to: docker push REPOSITORY/hem:TAG."
  value       = "${google_artifact_registry_repository.hem.location}-docker.pkg.dev/${var.project}/${google_artifact_registry_repository.hem.repository_id}"
}

output "topics" {
  description = "Pub/Sub topics (name => id)."
  value       = module.pubsub.topics
}

output "subscriptions" {
  description = "Sink subscriptions (name => id)."
  value       = module.pubsub.subscriptions
}

output "dead_letter_topics" {
  description = "Dead-letter topic of each sink subscription."
  value       = module.pubsub.dead_letter_topics
}

output "dead_letter_subscriptions" {
  description = "Subscription on each dead-letter topic, to inspect and replay dead letters."
  value       = module.pubsub.dead_letter_subscriptions
}

output "events_dataset" {
  description = "BigQuery dataset of the event tables (PROJECT.DATASET)."
  value       = "${var.project}.${module.bigquery.events_dataset_id}"
}

output "failed_dataset" {
  description = "BigQuery dataset of the _failed_events table (PROJECT.DATASET)."
  value       = "${var.project}.${module.bigquery.failed_dataset_id}"
}

output "archive_bucket" {
  description = "GCS event archive (events/ and failed/)."
  value       = module.storage.archive_url
}

output "registry_bucket" {
  description = "GCS store of the schema registry."
  value       = module.storage.registry_url
}

output "secrets" {
  description = "Secret Manager secrets to fill with gcloud secrets versions add (label => id)."
  value       = module.secrets.secrets
}

output "service_accounts" {
  description = "Each service's own service account e-mail."
  value = merge(
    {
      registry  = module.registry.service_account_email
      collector = module.collector.service_account_email
    },
    { for sink, p in module.processor : "processor-${sink}" => p.service_account_email },
  )
}

output "landing_bucket" {
  description = "Landing bucket of the file sources: declarations name it in objects.bucket; suppliers write exports into it."
  value       = google_storage_bucket.landing.name
}

output "ledger_bucket" {
  description = "The file sources' ledger bucket (hem source status --ledger-bucket, hem load --ledger-bucket)."
  value       = google_storage_bucket.ledger.name
}

output "objects_dead_letter_subscription" {
  description = "Object notifications the source service kept failing to load."
  value       = module.objects.dead_letter_subscriptions[local.objects_subscription]
}

output "console_ip" {
  description = "Address of the console's load balancer: point var.console.domain at it (null without a console)."
  value       = try(google_compute_global_address.console["console"].address, null)
}

output "field_kek_uri" {
  description = "The field KEK as KEYS.KEYSET_CHAIN and Tink name it (gcp-kms://projects/.../cryptoKeys/...)."
  value       = local.field_kek_uri
}

output "field_keys_table" {
  description = "The BigQuery table of wrapped field keysets (project.dataset.table)."
  value       = local.field_keys_table_id
}

output "field_keys_store" {
  description = "Where the wrapped field keysets live (hem's --field-keys): the registry bucket's keys/ prefix."
  value       = local.field_keys_store
}
