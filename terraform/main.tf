# hem on one Google Cloud project: Pub/Sub, BigQuery, Cloud Storage, Secret
# Manager and the Cloud Run services (registry, collector, one processor per
# sink), wired with least-privilege IAM. This is the one root module: every
# environment deploys it with its own backend (environments/ENV/backend.gcs.tfbackend)
# and values (environments/ENV/values.tfvars), so dev rehearses exactly what
# prod runs.
#
# Who may do what, at a glance:
#
#   collector            publisher on events and failed topics; reads api-keys and
#                        pii-salt; invokes the registry. Public: it authenticates
#                        producers itself (API keys, Google ID tokens).
#   registry             objectAdmin on the registry bucket; dataEditor on the
#                        events dataset (creates and evolves tables); reads api-keys.
#                        Not public: Cloud Run IAM (run.invoker) gates every call.
#   processor-bigquery   subscriber on its subscription; dataEditor on the events
#                        dataset; publisher on the failed topic; invokes the registry.
#   processor-archive    subscriber on its subscription; objectAdmin on events/ in
#                        the archive bucket; publisher on the failed topic; invokes
#                        the registry.
#   processor-failed     subscriber on its subscription; dataEditor on the failed
#                        dataset; objectCreator on failed/ in the archive bucket;
#                        invokes the registry.
#   Pub/Sub agent        publisher on the dead-letter topics, subscriber on the sink
#                        subscriptions (it moves undeliverable messages).
#   analysts group       dataViewer on the events dataset (and jobUser).

locals {
  prefix = var.name_prefix
  labels = merge({ app = "hem", environment = var.environment }, var.labels)

  bigquery_location = coalesce(var.bigquery_location, var.region)
  storage_location  = coalesce(var.storage_location, var.region)
  dataset_prefix    = replace(local.prefix, "-", "_")

  events_topic = "${local.prefix}-events"
  failed_topic = "${local.prefix}-failed"

  # Secret Manager secrets, by label. Values are added outside terraform.
  secrets = {
    api_keys        = "${local.prefix}-api-keys"
    pii_salt        = "${local.prefix}-pii-salt"
    console_api_key = "${local.prefix}-console-api-key"
    console_secret  = "${local.prefix}-console-secret"
  }

  # The keys file mounted into the collector and the registry.
  keys_dir  = "/secrets/keys"
  keys_file = "keys.json"

  # One processor per sink, each on its own subscription, so each sink fails,
  # lags and retries on its own. Replicas of a processor share its subscription
  # and Pub/Sub spreads the messages over them.
  sinks = {
    bigquery = {
      topic        = local.events_topic
      subscription = "${local.prefix}-events-bigquery"
    }
    archive = {
      topic        = local.events_topic
      subscription = "${local.prefix}-events-archive"
    }
    failed = {
      topic        = local.failed_topic
      subscription = "${local.prefix}-failed-sink"
    }
  }

  # Archive prefixes: the IAM conditions below keep each processor in its own.
  archive_events_prefix = "events/"
  archive_failed_prefix = "failed/"
}

resource "google_project_service" "apis" {
  for_each = toset([
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",
    "bigquerystorage.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "iam.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ])

  project            = var.project
  service            = each.value
  disable_on_destroy = false
}

# The container registry for hem images: REGION-docker.pkg.dev/PROJECT/hem/hem:TAG.
resource "google_artifact_registry_repository" "hem" {
  project       = var.project
  location      = var.region
  repository_id = local.prefix
  description   = "hem container images"
  format        = "DOCKER"
  labels        = local.labels

  cleanup_policy_dry_run = false

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 20
    }
  }

  cleanup_policies {
    id     = "delete-old-untagged"
    action = "DELETE"
    condition {
      tag_state  = "UNTAGGED"
      older_than = "2592000s" # 30 days
    }
  }

  depends_on = [google_project_service.apis]
}

module "secrets" {
  source = "./modules/secrets"

  project           = var.project
  secrets           = local.secrets
  replica_locations = var.secret_replica_locations
  labels            = local.labels

  depends_on = [google_project_service.apis]
}

module "pubsub" {
  source = "./modules/pubsub"

  project                 = var.project
  topics                  = [local.events_topic, local.failed_topic]
  subscriptions           = { for sink, s in local.sinks : s.subscription => { topic = s.topic } }
  max_delivery_attempts   = var.max_delivery_attempts
  enable_message_ordering = var.enable_message_ordering
  message_storage_regions = var.message_storage_regions
  labels                  = local.labels

  publishers = {
    collector-events = {
      topic  = local.events_topic
      member = module.collector.service_account_member
    }
    collector-failed = {
      topic  = local.failed_topic
      member = module.collector.service_account_member
    }
    processor-bigquery-failed = {
      topic  = local.failed_topic
      member = module.processor["bigquery"].service_account_member
    }
    processor-archive-failed = {
      topic  = local.failed_topic
      member = module.processor["archive"].service_account_member
    }
  }

  subscribers = {
    for sink, s in local.sinks : "processor-${sink}" => {
      subscription = s.subscription
      member       = module.processor[sink].service_account_member
    }
  }

  depends_on = [google_project_service.apis]
}

module "bigquery" {
  source = "./modules/bigquery"

  project                          = var.project
  location                         = local.bigquery_location
  events_dataset_id                = "${local.dataset_prefix}_events"
  failed_dataset_id                = "${local.dataset_prefix}_failed"
  events_partition_expiration_days = var.events_partition_expiration_days
  failed_partition_expiration_days = var.failed_partition_expiration_days
  analysts_group                   = var.analysts_group
  analysts_job_user                = var.analysts_job_user
  failed_readers                   = var.failed_readers
  labels                           = local.labels

  editors = {
    registry = {
      dataset = "events"
      member  = module.registry.service_account_member
    }
    processor-bigquery = {
      dataset = "events"
      member  = module.processor["bigquery"].service_account_member
    }
    processor-failed = {
      dataset = "failed"
      member  = module.processor["failed"].service_account_member
    }
  }

  depends_on = [google_project_service.apis]
}

module "storage" {
  source = "./modules/storage"

  project                   = var.project
  location                  = local.storage_location
  archive_bucket_name       = coalesce(var.archive_bucket_name, "${var.project}-${local.prefix}-archive")
  registry_bucket_name      = coalesce(var.registry_bucket_name, "${var.project}-${local.prefix}-registry")
  archive_delete_after_days = var.archive_delete_after_days
  archive_type_rules        = jsondecode(file("${path.module}/archive_lifecycle.json")).rules
  failed_delete_after_days  = var.failed_partition_expiration_days
  force_destroy             = var.force_destroy
  labels                    = local.labels

  archive_access = {
    # Rolls Parquet files and may rewrite its own; nothing outside events/.
    processor-archive = {
      member = module.processor["archive"].service_account_member
      role   = "roles/storage.objectAdmin"
      prefix = local.archive_events_prefix
    }
    # Only ever adds files under failed/.
    processor-failed = {
      member = module.processor["failed"].service_account_member
      role   = "roles/storage.objectCreator"
      prefix = local.archive_failed_prefix
    }
  }

  registry_object_admins = {
    registry = module.registry.service_account_member
  }

  depends_on = [google_project_service.apis]
}

module "registry" {
  source = "./modules/service"

  project     = var.project
  region      = var.region
  name        = "${local.prefix}-registry"
  description = "hem schema registry: admits contract versions and migrates BigQuery tables."
  image       = var.image
  args        = ["registry", "serve"]

  # Reachable from CI outside Google Cloud (hem schema push), but every request
  # needs a Google identity holding roles/run.invoker (see invokers) and writes
  # need an API key with schema_write. Set INGRESS_TRAFFIC_INTERNAL_ONLY when CI
  # runs inside the VPC.
  ingress  = var.registry_ingress
  http2    = true
  liveness = "grpc" # grpc.health.v1

  env = {
    HEM_LISTEN           = ":8080"
    HEM_PROJECT          = var.project
    HEM_STORE            = "gs://${module.storage.registry_bucket}/schemas"
    HEM_KEYS_FILE        = "${local.keys_dir}/${local.keys_file}"
    HEM_BIGQUERY_PROJECT = var.project
    HEM_BIGQUERY_DATASET = module.bigquery.events_dataset_id
    # The <table>_decrypted views of tables with encrypted fields.
    HEM_FIELD_KEYS_TABLE = local.field_keys_table_id
    HEM_FIELD_KEK        = local.field_kek_uri
  }

  secret_files = {
    keys = {
      secret     = module.secrets.secret_ids["api_keys"]
      mount_path = local.keys_dir
      file       = local.keys_file
    }
  }

  invokers = merge(
    {
      collector = module.collector.service_account_member
      source    = module.source.service_account_member
      rollup    = module.rollup.service_account_member
    },
    { for sink in keys(local.sinks) : "processor-${sink}" => module.processor[sink].service_account_member },
    { for k, c in module.console : k => c.service_account_member },
    var.registry_invokers,
  )

  cpu                  = var.registry.cpu
  memory               = var.registry.memory
  min_instances        = var.registry.min_instances
  max_instances        = var.registry.max_instances
  cpu_always_allocated = false
  concurrency          = 80
  timeout              = "3600s" # watch streams; clients reconnect
  deletion_protection  = var.deletion_protection
  labels               = merge(local.labels, { component = "registry" })

  depends_on = [google_project_service.apis]
}

module "collector" {
  source = "./modules/service"

  project     = var.project
  region      = var.region
  name        = "${local.prefix}-collector"
  description = "hem collector: authenticates producers, validates events and publishes them to Pub/Sub."
  image       = var.image
  args        = ["collector", "serve"]

  # The collector is hem's only public endpoint: authentication happens in the
  # app (API keys from the keys file, or Google ID tokens), so Cloud Run lets
  # everyone in and the collector decides. The console is named too, for its
  # replays (it sends its own API key as well).
  ingress  = "INGRESS_TRAFFIC_ALL"
  http2    = true
  invokers = merge({ public = "allUsers" }, { for k, c in module.console : k => c.service_account_member })
  liveness = "http" # GET /healthz

  env = {
    # gRPC and HTTP/JSON on one port.
    HEM_LISTEN       = ":8080"
    HEM_HTTP_LISTEN  = ":8080"
    HEM_PROJECT      = var.project
    HEM_REGISTRY     = module.registry.uri
    HEM_EVENTS_TOPIC = module.pubsub.topic_names[local.events_topic]
    HEM_FAILED_TOPIC = module.pubsub.topic_names[local.failed_topic]
    HEM_KEYS_FILE    = "${local.keys_dir}/${local.keys_file}"
    # Field encryption (fieldcrypt.tf): keysets in the registry bucket's
    # keys/, wrapped by the KEK, copied to the keys table.
    HEM_FIELD_KEYS       = local.field_keys_store
    HEM_FIELD_KEK        = local.field_kek_uri
    HEM_FIELD_KEYS_TABLE = local.field_keys_table_id
  }

  secret_env = {
    HEM_PII_SALT = {
      secret = module.secrets.secret_ids["pii_salt"]
    }
  }

  secret_files = {
    keys = {
      secret     = module.secrets.secret_ids["api_keys"]
      mount_path = local.keys_dir
      file       = local.keys_file
    }
  }

  cpu                  = var.collector.cpu
  memory               = var.collector.memory
  min_instances        = var.collector.min_instances
  max_instances        = var.collector.max_instances
  cpu_always_allocated = var.collector.cpu_always_allocated
  concurrency          = var.collector.concurrency
  timeout              = "3600s" # streaming Collect; clients reconnect
  deletion_protection  = var.deletion_protection
  labels               = merge(local.labels, { component = "collector" })

  depends_on = [google_project_service.apis]
}

# What each sink needs besides the common settings.
locals {
  processor_env = {
    bigquery = {
      HEM_FAILED_TOPIC     = module.pubsub.topic_names[local.failed_topic]
      HEM_BIGQUERY_PROJECT = var.project
      HEM_BIGQUERY_DATASET = module.bigquery.events_dataset_id
      HEM_FIELD_KEYS_TABLE = local.field_keys_table_id
      HEM_FIELD_KEK        = local.field_kek_uri
    }
    archive = {
      HEM_FAILED_TOPIC = module.pubsub.topic_names[local.failed_topic]
      HEM_BUCKET       = module.storage.archive_bucket
      HEM_PREFIX       = local.archive_events_prefix
    }
    # The failed processor is the end of the line: it has no failed topic. It
    # writes _failed_events in the failed dataset and a copy under failed/.
    failed = {
      HEM_BIGQUERY_PROJECT = var.project
      HEM_BIGQUERY_DATASET = module.bigquery.failed_dataset_id
      HEM_BUCKET           = module.storage.archive_bucket
      HEM_PREFIX           = local.archive_failed_prefix
    }
  }
}

module "processor" {
  source   = "./modules/service"
  for_each = local.sinks

  project     = var.project
  region      = var.region
  name        = "${local.prefix}-processor-${each.key}"
  description = "hem processor: pulls ${each.value.subscription} into the ${each.key} sink."
  image       = var.image
  args        = ["processor", "run"]

  # Processors pull from Pub/Sub; their port only serves health checks.
  ingress = "INGRESS_TRAFFIC_INTERNAL_ONLY"

  env = merge(
    {
      HEM_LISTEN       = ":8080"
      HEM_PROJECT      = var.project
      HEM_REGISTRY     = module.registry.uri
      HEM_SINK         = each.key
      HEM_SUBSCRIPTION = module.pubsub.subscription_names[each.value.subscription]
    },
    local.processor_env[each.key],
  )

  cpu    = var.processors[each.key].cpu
  memory = var.processors[each.key].memory
  # Pulling a subscription is work outside requests: CPU stays allocated and at
  # least one instance always runs. Cloud Run adds instances on CPU load, up to
  # max_instances; they share the subscription.
  cpu_always_allocated = true
  min_instances        = var.processors[each.key].min_instances
  max_instances        = var.processors[each.key].max_instances
  deletion_protection  = var.deletion_protection
  labels               = merge(local.labels, { component = "processor-${each.key}" })

  depends_on = [google_project_service.apis]
}
