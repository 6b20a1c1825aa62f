# The web console (hem console serve): contracts and their history, live rates,
# failed events with replay, SQL over BigQuery, the file sources' ledger and the
# archive. It runs on Cloud Run behind an external HTTPS load balancer with
# Identity-Aware Proxy: only the members of var.console.users reach it, and the
# console checks IAP's signed header itself (HEM_AUTH=iap, the backend service's
# audience). It is deployed only when var.console.domain is set (the load
# balancer's certificate needs the name).
#
# Who may do what:
#
#   console              run.invoker on the registry (reads contracts, dry-runs
#                        "try a change"); dataViewer on the events and failed
#                        datasets and jobUser on the project (its SQL page and
#                        failed-event groups); monitoring.viewer (the Live page);
#                        run.invoker on the collector, with its own API key
#                        (replays go through the collector, which validates
#                        them again); objectCreator and objectViewer on the
#                        audit bucket only (it adds entries, never rewrites
#                        one); objectViewer on the ledger and archive buckets;
#                        its API key and CSRF secret. Nothing else:
#                        policytest's console-least-privilege rule keeps it so.
#   IAP service agent    run.invoker on the console (IAP calls it).
#   var.console.users    iap.httpsResourceAccessor on the console's backend.
#
# Before the first apply with a domain: add the console's API key to the keys
# file (types ["*"], no schema_write) and its value as a version of the
# ${prefix}-console-api-key secret, a random string of 32 bytes or more to
# ${prefix}-console-secret, and point the domain's DNS at the output
# console_ip. VERIFY: checked with terraform fmt and policytest, not yet
# applied (IAP with Google's managed OAuth client on a backend service).

locals {
  # Empty without a domain: nothing of the console is created.
  console      = var.console.domain == null ? {} : { console = var.console }
  console_name = "${local.prefix}-console"
}

resource "google_project_service" "console" {
  for_each = var.console.domain == null ? toset([]) : toset(["compute.googleapis.com", "iap.googleapis.com"])

  project            = var.project
  service            = each.value
  disable_on_destroy = false
}

data "google_project" "console" {
  for_each = local.console

  project_id = var.project
}

# The audit trail of replays and redrives: one object per entry under audit/,
# written once (DoesNotExist); the console may add and read, never rewrite.
resource "google_storage_bucket" "console_audit" {
  for_each = local.console

  project       = var.project
  name          = "${var.project}-${local.console_name}-audit"
  location      = local.storage_location
  storage_class = "STANDARD"
  labels        = local.labels
  force_destroy = var.force_destroy

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
}

module "console" {
  source   = "./modules/service"
  for_each = local.console

  project     = var.project
  region      = var.region
  name        = local.console_name
  description = "hem console: contracts, live rates, failed events with replay, SQL; behind IAP."
  image       = var.image
  args        = ["console", "serve"]

  # Only the load balancer (and IAP in front of it) reaches the console.
  ingress  = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
  liveness = "http" # GET /healthz

  env = {
    HEM_LISTEN                  = ":8080"
    HEM_REGISTRY                = module.registry.uri
    HEM_COLLECTOR               = module.collector.uri
    HEM_BIGQUERY_PROJECT        = var.project
    HEM_BIGQUERY_DATASET        = module.bigquery.events_dataset_id
    HEM_BIGQUERY_FAILED_DATASET = module.bigquery.failed_dataset_id
    HEM_BIGQUERY_MAX_BYTES      = tostring(each.value.max_bytes_billed)
    HEM_AUDIT_BUCKET            = google_storage_bucket.console_audit[each.key].name
    HEM_LEDGER_BUCKET           = google_storage_bucket.ledger.name
    HEM_ARCHIVE_BUCKET          = module.storage.archive_bucket
    HEM_AUTH                    = "iap"
    HEM_IAP_AUDIENCE            = "/projects/${data.google_project.console[each.key].number}/global/backendServices/${google_compute_backend_service.console[each.key].generated_id}"
    HEM_PII_VIEWERS             = join(",", each.value.pii_viewers)
    HEM_REPLAYERS               = join(",", each.value.replayers)
  }

  secret_env = {
    HEM_COLLECTOR_API_KEY = {
      secret = module.secrets.secret_ids["console_api_key"]
    }
    HEM_SECRET = {
      secret = module.secrets.secret_ids["console_secret"]
    }
  }

  # Reads the BigQuery datasets (jobUser runs its queries) and Cloud Monitoring;
  # it writes no metrics of its own.
  project_roles = ["roles/bigquery.jobUser", "roles/monitoring.viewer"]

  # IAP's service agent calls the console on behalf of the signed-in users.
  invokers = {
    iap = "serviceAccount:service-${data.google_project.console[each.key].number}@gcp-sa-iap.iam.gserviceaccount.com"
  }

  cpu                  = each.value.cpu
  memory               = each.value.memory
  min_instances        = 0
  max_instances        = each.value.max_instances
  cpu_always_allocated = false
  deletion_protection  = var.deletion_protection
  labels               = merge(local.labels, { component = "console" })

  depends_on = [google_project_service.apis]
}

# The console's grants, all here so that one look (and policytest) sees them.
resource "google_bigquery_dataset_iam_member" "console_events_viewer" {
  for_each = local.console

  project    = var.project
  dataset_id = module.bigquery.events_dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = module.console[each.key].service_account_member
}

resource "google_bigquery_dataset_iam_member" "console_failed_viewer" {
  for_each = local.console

  project    = var.project
  dataset_id = module.bigquery.failed_dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = module.console[each.key].service_account_member
}

resource "google_storage_bucket_iam_member" "console_audit_creator" {
  for_each = local.console

  bucket = google_storage_bucket.console_audit[each.key].name
  role   = "roles/storage.objectCreator"
  member = module.console[each.key].service_account_member
}

resource "google_storage_bucket_iam_member" "console_audit_reader" {
  for_each = local.console

  bucket = google_storage_bucket.console_audit[each.key].name
  role   = "roles/storage.objectViewer"
  member = module.console[each.key].service_account_member
}

resource "google_storage_bucket_iam_member" "console_ledger_reader" {
  for_each = local.console

  bucket = google_storage_bucket.ledger.name
  role   = "roles/storage.objectViewer"
  member = module.console[each.key].service_account_member
}

resource "google_storage_bucket_iam_member" "console_archive_reader" {
  for_each = local.console

  bucket = module.storage.archive_bucket
  role   = "roles/storage.objectViewer"
  member = module.console[each.key].service_account_member
}

# The external HTTPS load balancer with IAP: a serverless NEG for the service,
# a backend service with IAP on, a managed certificate for the domain.
resource "google_compute_region_network_endpoint_group" "console" {
  for_each = local.console

  project               = var.project
  region                = var.region
  name                  = local.console_name
  network_endpoint_type = "SERVERLESS"

  cloud_run {
    # The name, not the module's output: the service's environment names the
    # backend service (its IAP audience), which needs this group first.
    service = local.console_name
  }

  depends_on = [google_project_service.console]
}

resource "google_compute_backend_service" "console" {
  for_each = local.console

  project               = var.project
  name                  = local.console_name
  load_balancing_scheme = "EXTERNAL_MANAGED"
  protocol              = "HTTPS"

  backend {
    group = google_compute_region_network_endpoint_group.console[each.key].id
  }

  # Google's managed OAuth client: no client id or secret to keep.
  iap {
    enabled = true
  }
}

resource "google_iap_web_backend_service_iam_member" "console_users" {
  for_each = var.console.domain == null ? toset([]) : toset(var.console.users)

  project             = var.project
  web_backend_service = google_compute_backend_service.console["console"].name
  role                = "roles/iap.httpsResourceAccessor"
  member              = each.value
}

resource "google_compute_url_map" "console" {
  for_each = local.console

  project         = var.project
  name            = local.console_name
  default_service = google_compute_backend_service.console[each.key].id
}

resource "google_compute_managed_ssl_certificate" "console" {
  for_each = local.console

  project = var.project
  name    = local.console_name

  managed {
    domains = [each.value.domain]
  }

  depends_on = [google_project_service.console]
}

resource "google_compute_target_https_proxy" "console" {
  for_each = local.console

  project          = var.project
  name             = local.console_name
  url_map          = google_compute_url_map.console[each.key].id
  ssl_certificates = [google_compute_managed_ssl_certificate.console[each.key].id]
}

resource "google_compute_global_address" "console" {
  for_each = local.console

  project = var.project
  name    = local.console_name

  depends_on = [google_project_service.console]
}

resource "google_compute_global_forwarding_rule" "console" {
  for_each = local.console

  project               = var.project
  name                  = local.console_name
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_address            = google_compute_global_address.console[each.key].address
  port_range            = "443"
  target                = google_compute_target_https_proxy.console[each.key].id
}
