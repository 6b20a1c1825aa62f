# File sources: exports dropped into the landing bucket become contract events.
# Cloud Storage notifies each new object (OBJECT_FINALIZE, JSON_API_V1) on the
# objects topic; the source service (hem source run) pulls the subscription,
# finds the declaration (sources/*.yaml, baked into the image) whose bucket and
# pattern match, and loads the object through the collector's core, once: the
# ledger bucket records every (source, object, generation). Notifications that
# keep failing go to the subscription's dead-letter topic.
#
# Who may do what:
#
#   source               objectViewer on the landing bucket (reads exports);
#                        objectUser on the ledger bucket (claims and updates its
#                        entries with preconditions; no IAM on objects);
#                        publisher on the events and failed topics; subscriber on
#                        the objects subscription; invokes the registry; reads
#                        the PII salt (PII hashes must match the collector's);
#                        writes its metrics. Nothing else: policytest's
#                        source-least-privilege rule keeps it so.
#   GCS service agent    publisher on the objects topic (it sends the
#                        notifications).

locals {
  objects_topic        = "${local.prefix}-objects"
  objects_subscription = "${local.prefix}-objects-source"
  landing_bucket       = coalesce(var.landing_bucket_name, "${var.project}-${local.prefix}-landing")
  ledger_bucket        = coalesce(var.ledger_bucket_name, "${var.project}-${local.prefix}-source-ledger")
}

# Where suppliers drop their exports. Declarations name this bucket
# (objects.bucket) and a pattern of object names under it.
resource "google_storage_bucket" "landing" {
  project       = var.project
  name          = local.landing_bucket
  location      = local.storage_location
  storage_class = "STANDARD"
  labels        = local.labels
  force_destroy = var.force_destroy

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  # Exports are loaded within minutes; what is kept after that is for backfills
  # (hem load gs://...) and audits.
  dynamic "lifecycle_rule" {
    for_each = var.landing_delete_after_days == null ? [] : [var.landing_delete_after_days]
    content {
      condition {
        age = lifecycle_rule.value
      }
      action {
        type = "Delete"
      }
    }
  }
}

# The ledger: one small JSON object per (source, object, generation), written
# with generation preconditions. Versioned, as the registry's bucket: an entry
# overwritten by mistake can be restored.
resource "google_storage_bucket" "ledger" {
  project       = var.project
  name          = local.ledger_bucket
  location      = local.storage_location
  storage_class = "STANDARD"
  labels        = local.labels
  force_destroy = var.force_destroy

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }
}

# The objects topic and its subscription, with a dead-letter topic and
# subscription of its own (see modules/pubsub).
module "objects" {
  source = "./modules/pubsub"

  project                 = var.project
  topics                  = [local.objects_topic]
  subscriptions           = { (local.objects_subscription) = { topic = local.objects_topic } }
  max_delivery_attempts   = var.max_delivery_attempts
  message_storage_regions = var.message_storage_regions
  labels                  = local.labels

  depends_on = [google_project_service.apis]
}

# Cloud Storage publishes notifications as its project's service agent.
data "google_storage_project_service_account" "gcs" {
  project = var.project
}

resource "google_pubsub_topic_iam_member" "gcs_notifications" {
  project = var.project
  topic   = module.objects.topic_names[local.objects_topic]
  role    = "roles/pubsub.publisher"
  member  = data.google_storage_project_service_account.gcs.member
}

resource "google_storage_notification" "landing" {
  bucket         = google_storage_bucket.landing.name
  payload_format = "JSON_API_V1"
  topic          = module.objects.topics[local.objects_topic]
  event_types    = ["OBJECT_FINALIZE"]

  depends_on = [google_pubsub_topic_iam_member.gcs_notifications]
}

module "source" {
  source = "./modules/service"

  project     = var.project
  region      = var.region
  name        = "${local.prefix}-source"
  description = "hem source run: loads each new object of the landing bucket that a declared file source takes."
  image       = var.image
  args        = ["source", "run"]

  # It pulls the objects subscription; its port only serves health checks.
  ingress = "INGRESS_TRAFFIC_INTERNAL_ONLY"

  env = {
    HEM_LISTEN        = ":8080"
    HEM_PROJECT       = var.project
    HEM_REGISTRY      = module.registry.uri
    HEM_SUBSCRIPTION  = module.objects.subscription_names[local.objects_subscription]
    HEM_LEDGER_BUCKET = google_storage_bucket.ledger.name
    HEM_EVENTS_TOPIC  = module.pubsub.topic_names[local.events_topic]
    HEM_FAILED_TOPIC  = module.pubsub.topic_names[local.failed_topic]
    HEM_LOADS         = tostring(var.source_run.loads)
    # Cloud Run's temporary folder is the instance's memory: a load's
    # spill stays well inside it, larger objects are read twice.
    HEM_SPILL_MAX_BYTES = "268435456"
  }

  # The records' PII fields are hashed as the collector hashes them.
  secret_env = {
    HEM_PII_SALT = {
      secret = module.secrets.secret_ids["pii_salt"]
    }
  }

  cpu    = var.source_run.cpu
  memory = var.source_run.memory
  # Pulling is work outside requests: CPU stays allocated and one instance
  # always runs. Each instance loads var.source_run.loads objects at once.
  cpu_always_allocated = true
  min_instances        = var.source_run.min_instances
  max_instances        = var.source_run.max_instances
  deletion_protection  = var.deletion_protection
  labels               = merge(local.labels, { component = "source" })

  depends_on = [google_project_service.apis]
}

# The source service's grants, all here so that one look (and policytest)
# sees them all.
resource "google_storage_bucket_iam_member" "source_landing_reader" {
  bucket = google_storage_bucket.landing.name
  role   = "roles/storage.objectViewer"
  member = module.source.service_account_member
}

resource "google_storage_bucket_iam_member" "source_ledger_user" {
  bucket = google_storage_bucket.ledger.name
  role   = "roles/storage.objectUser"
  member = module.source.service_account_member
}

resource "google_pubsub_topic_iam_member" "source_events_publisher" {
  project = var.project
  topic   = module.pubsub.topic_names[local.events_topic]
  role    = "roles/pubsub.publisher"
  member  = module.source.service_account_member
}

resource "google_pubsub_topic_iam_member" "source_failed_publisher" {
  project = var.project
  topic   = module.pubsub.topic_names[local.failed_topic]
  role    = "roles/pubsub.publisher"
  member  = module.source.service_account_member
}

resource "google_pubsub_subscription_iam_member" "source_objects_subscriber" {
  project      = var.project
  subscription = module.objects.subscription_names[local.objects_subscription]
  role         = "roles/pubsub.subscriber"
  member       = module.source.service_account_member
}
