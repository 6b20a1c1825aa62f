# One hem command run on a schedule: a Cloud Run v2 job with its own service
# account, and a Cloud Scheduler job that runs it through the Cloud Run Admin
# API as a second account, allowed only to run this job. The job's own grants
# (what its command reads and writes) differ from job to job: its caller makes
# them, naming service_account_member, where one look (and policytest's rule
# for that job) sees them all. Nothing outside this module can name the
# scheduler's account: no output exposes it (policytest's
# scheduled-job-least-privilege rule keeps it so).

locals {
  # "archive verify" => "archive-verify", as the job's name says it.
  component = replace(var.title, " ", "-")
}

resource "google_service_account" "this" {
  project      = var.project
  account_id   = var.name
  display_name = "hem ${var.title}"
  description  = var.description
}

resource "google_service_account" "scheduler" {
  project      = var.project
  account_id   = "${var.name}-sched"
  display_name = "hem ${var.title} scheduler"
  description  = "Cloud Scheduler's identity to run the ${var.title} job."
}

resource "google_cloud_run_v2_job" "this" {
  project             = var.project
  name                = var.name
  location            = var.region
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { component = local.component })

  template {
    task_count = 1

    template {
      service_account = google_service_account.this.email
      # No retries: the next scheduled run is the retry, so a command run
      # this way must be safe to repeat.
      max_retries = 0
      timeout     = "${var.timeout_minutes * 60}s"

      containers {
        image = var.image
        args  = concat(var.command, var.args)

        dynamic "env" {
          for_each = var.env
          content {
            name  = env.key
            value = env.value
          }
        }

        resources {
          limits = {
            cpu    = "1"
            memory = var.memory
          }
        }
      }
    }
  }
}

resource "google_cloud_run_v2_job_iam_member" "scheduler" {
  project  = var.project
  location = var.region
  name     = google_cloud_run_v2_job.this.name
  role     = "roles/run.invoker"
  member   = google_service_account.scheduler.member
}

resource "google_cloud_scheduler_job" "this" {
  project     = var.project
  region      = var.region
  name        = var.name
  description = "Runs hem ${join(" ", var.command)}."
  schedule    = var.schedule
  time_zone   = "Etc/UTC"

  http_target {
    http_method = "POST"
    uri         = "https://run.googleapis.com/v2/projects/${var.project}/locations/${var.region}/jobs/${google_cloud_run_v2_job.this.name}:run"

    oauth_token {
      service_account_email = google_service_account.scheduler.email
      scope                 = "https://www.googleapis.com/auth/cloud-platform"
    }
  }

  depends_on = [google_cloud_run_v2_job_iam_member.scheduler]
}
