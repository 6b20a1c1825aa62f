# One hem Cloud Run (v2) service with its own service account. Every service gets
# a dedicated identity so that its grants are exactly what it needs; nothing runs
# as the Compute Engine default service account. Grants on Pub/Sub, BigQuery and
# GCS are made by the modules that own those resources; this module grants only
# what is about the service itself: reading the secrets it mounts, writing its
# metrics, and who may invoke it.

locals {
  port = 8080

  # One grant per secret, however many times the service uses it.
  secrets = toset(concat(
    [for s in values(var.secret_env) : s.secret],
    [for s in values(var.secret_files) : s.secret],
  ))

  # Go's soft heap limit at three quarters of the instance's memory, which
  # keeps the heap clear of the OOM killer (the collector runs GOGC=400).
  # var.env may set its own.
  memory_mib = endswith(var.memory, "Gi") ? tonumber(trimsuffix(var.memory, "Gi")) * 1024 : tonumber(trimsuffix(var.memory, "Mi"))
  env        = merge({ GOMEMLIMIT = "${floor(local.memory_mib * 3 / 4)}MiB" }, var.env)
}

resource "google_service_account" "this" {
  project      = var.project
  account_id   = var.name
  display_name = "hem ${var.name}"
  description  = "Runs the Cloud Run service ${var.name}: ${var.description}"
}

resource "google_project_iam_member" "this" {
  for_each = var.project_roles

  project = var.project
  role    = each.value
  member  = google_service_account.this.member
}

resource "google_secret_manager_secret_iam_member" "this" {
  for_each = local.secrets

  project   = var.project
  secret_id = each.value
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.this.member
}

resource "google_cloud_run_v2_service" "this" {
  project              = var.project
  location             = var.region
  name                 = var.name
  description          = var.description
  ingress              = var.ingress
  invoker_iam_disabled = var.invoker_iam_disabled
  labels               = var.labels
  deletion_protection  = var.deletion_protection

  template {
    service_account                  = google_service_account.this.email
    execution_environment            = "EXECUTION_ENVIRONMENT_GEN2"
    max_instance_request_concurrency = var.concurrency
    timeout                          = var.timeout
    labels                           = var.labels

    scaling {
      min_instance_count = var.min_instances
      max_instance_count = var.max_instances
    }

    containers {
      image = var.image
      args  = var.args

      ports {
        name           = var.http2 ? "h2c" : "http1"
        container_port = local.port
      }

      resources {
        limits = {
          cpu    = var.cpu
          memory = var.memory
        }
        # cpu_idle = false is "CPU always allocated".
        cpu_idle          = !var.cpu_always_allocated
        startup_cpu_boost = true
      }

      dynamic "env" {
        for_each = local.env
        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = var.secret_env
        content {
          name = env.key
          value_source {
            secret_key_ref {
              secret  = env.value.secret
              version = env.value.version
            }
          }
        }
      }

      dynamic "volume_mounts" {
        for_each = var.secret_files
        content {
          name       = volume_mounts.key
          mount_path = volume_mounts.value.mount_path
        }
      }

      startup_probe {
        tcp_socket {
          port = local.port
        }
        period_seconds    = 2
        timeout_seconds   = 1
        failure_threshold = 30
      }

      dynamic "liveness_probe" {
        for_each = var.liveness == "none" ? [] : [var.liveness]
        content {
          dynamic "http_get" {
            for_each = liveness_probe.value == "http" ? [var.health_path] : []
            content {
              path = http_get.value
              port = local.port
            }
          }
          dynamic "grpc" {
            for_each = liveness_probe.value == "grpc" ? [1] : []
            content {
              port = local.port
            }
          }
          period_seconds    = 15
          timeout_seconds   = 5
          failure_threshold = 4
        }
      }
    }

    dynamic "volumes" {
      for_each = var.secret_files
      content {
        name = volumes.key
        secret {
          secret = volumes.value.secret
          items {
            version = volumes.value.version
            path    = volumes.value.file
            mode    = 292 # 0444
          }
        }
      }
    }
  }

  # A revision that mounts a secret only starts once the account may read it.
  depends_on = [google_secret_manager_secret_iam_member.this]
}

resource "google_cloud_run_v2_service_iam_member" "invoker" {
  for_each = var.invokers

  project  = var.project
  location = google_cloud_run_v2_service.this.location
  name     = google_cloud_run_v2_service.this.name
  role     = "roles/run.invoker"
  member   = each.value
}
