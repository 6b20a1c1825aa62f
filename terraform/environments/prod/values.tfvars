# What makes prod prod. Passed first, before your own terraform.tfvars
# (project, image, ...), which may override any of these:
#   terraform plan -var-file=environments/prod/values.tfvars -var-file=environments/prod/terraform.tfvars
environment         = "prod"
deletion_protection = true

events_partition_expiration_days = null # keep events for ever
failed_partition_expiration_days = 90
archive_delete_after_days        = null # keep the archive for ever, in colder classes

registry = {
  min_instances = 1
  max_instances = 3
}

# Two warm instances, so one failing adds no cold start to producers' latency.
collector = {
  memory               = "1Gi"
  min_instances        = 2
  max_instances        = 50
  cpu_always_allocated = true
}

processors = {
  bigquery = { memory = "2Gi", min_instances = 2, max_instances = 20 }
  archive  = { memory = "2Gi", min_instances = 2, max_instances = 20 }
  failed   = { memory = "1Gi", min_instances = 1, max_instances = 3 }
}
